"""p50/p95 latency of typical analyst queries on a Customer 360 of N people, on the real
local Trino.

The Customer 360 is built by the project's own Customer 360 code (merged_customers,
transaction_attributes, customer_attributes, customer_360) from a synthetic Stitch
output of N customers (about 1.8 source records and 3 orders each, US states, a
realistic share of missing values), written as Delta, registered in a Trino started for
the run, and queried as the analyst user (PII masked) once warm.

    python benchmarks/trino_queries.py [--people 100000] [--repeat 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

QUERIES = {
    "segment count": """
        SELECT count(*) FROM delta.c360.customer_360
        WHERE state IN ('CA', 'NY', 'TX') AND l12m_revenue > 100
          AND contactable_email AND latest_order_date >= current_date - INTERVAL '180' DAY""",
    "top customers by revenue": """
        SELECT amperity_id, given_name, surname, email, lifetime_revenue, lifetime_order_count
        FROM delta.c360.customer_360 ORDER BY lifetime_revenue DESC LIMIT 100""",
    "customer_360 x transaction_attributes": """
        SELECT c.state, count(*) AS customers, avg(t.avg_order_value) AS aov,
               sum(t.l12m_revenue) AS l12m_revenue
        FROM delta.c360.customer_360 c
        JOIN delta.c360.transaction_attributes t ON c.amperity_id = t.amperity_id
        WHERE t.lifetime_order_count > 1
        GROUP BY c.state ORDER BY l12m_revenue DESC""",
    "rfm distribution": """
        SELECT recency_decile, frequency_decile, count(*) AS customers,
               sum(lifetime_revenue) AS revenue
        FROM delta.c360.customer_360 WHERE rfm_score IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2""",
}
STATES = ["CA", "NY", "TX", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ", "MA", "CO"]


def synthetic_stitch(spark, people: int):
    """unified_coalesced and unified_transactions shaped like Stitch's output."""
    from pyspark.sql import functions as F

    def pick(values: list[str], seed: str):
        return F.element_at(F.array(*[F.lit(v) for v in values]),
                            (F.abs(F.hash(F.col("id"), F.lit(seed))) % len(values) + 1).cast("int"))

    def maybe(column, share_missing: float, seed: str):
        return F.when(F.abs(F.hash(F.col("id"), F.lit(seed))) % 1000 < share_missing * 1000,
                      F.lit(None)).otherwise(column)

    records = spark.range(int(people * 1.8)).withColumn(
        "person", (F.abs(F.hash("id", F.lit("p"))) % people).cast("long"))
    coalesced = records.select(
        F.format_string("c%09d", "person").alias("amperity_id"),
        pick(["pos_customers", "ecom_customers", "loyalty_members"], "s").alias("source"),
        F.lit("demo").alias("source_system"),
        F.col("id").cast("string").alias("pk"),
        pick(["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana"], "g").alias("given_name"),
        F.format_string("Surname%05d", F.col("person") % 20000).alias("surname"),
        F.lit(None).cast("string").alias("full_name"),
        maybe(F.format_string("p%d@example.com", "person"), 0.3, "e").alias("email"),
        maybe(F.format_string("+1555%07d", "person"), 0.4, "ph").alias("phone"),
        maybe(F.format_string("%d MAIN ST", F.col("person") % 9999), 0.2, "a").alias("address"),
        F.lit(None).cast("string").alias("address2"),
        F.lit("SPRINGFIELD").alias("city"),
        pick(STATES, "st").alias("state"),
        F.format_string("%05d", F.col("person") % 99999).alias("postal"),
        F.lit("US").alias("country"),
        maybe(F.date_add(F.lit(date(1950, 1, 1)), (F.col("person") % 18000).cast("int")),
              0.5, "b").alias("birthdate"),
        F.lit(None).cast("string").alias("gender"),
        F.lit(None).cast("string").alias("loyalty_id"),
        F.lit(False).alias("supersized"),
        F.current_timestamp().alias("_updated"),
    )
    orders = spark.range(people * 3).select(
        F.format_string("c%09d", (F.abs(F.hash("id", F.lit("o"))) % people)).alias(
            "amperity_id"),
        F.lit("pos_transactions").alias("source"),
        F.col("id").cast("string").alias("order_id"),
        F.date_sub(F.current_date(), (F.abs(F.hash("id", F.lit("d"))) % 900).cast("int")).alias(
            "order_date"),
        ((F.abs(F.hash("id", F.lit("r"))) % 30000) / 100).cast("decimal(18,2)").alias(
            "order_revenue"),
        (F.abs(F.hash("id", F.lit("q"))) % 5 + 1).cast("int").alias("order_quantity"),
    )
    return coalesced, orders


def build_c360(spark, lake: Path, people: int) -> dict[str, str]:
    from cdp_pipelines.customer360.attributes import (
        customer_360,
        customer_attributes,
        transaction_attributes,
    )
    from cdp_pipelines.customer360.merged_customers import merged_customers

    coalesced, orders = synthetic_stitch(spark, people)
    paths = {name: str(lake / "c360" / name) for name in (
        "merged_customers", "transaction_attributes", "customer_attributes", "customer_360")}

    def write(df, name):
        df.write.format("delta").mode("overwrite").save(paths[name])
        return spark.read.format("delta").load(paths[name])

    merged = write(merged_customers(coalesced, {"loyalty_members": 10, "ecom_customers": 20}),
                   "merged_customers")
    tx = write(transaction_attributes(orders, None, date.today()), "transaction_attributes")
    consent = spark.createDataFrame([], "amperity_id string, _updated timestamp")
    attributes = write(customer_attributes(merged, consent), "customer_attributes")
    write(customer_360(merged, tx, attributes), "customer_360")
    return paths


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)

    from cdp_pipelines.resources import trino_access, trino_server
    from cdp_pipelines.resources.spark import build_spark_session
    from cdp_pipelines.resources.trino import TrinoResource

    work = Path(args.work or tempfile.mkdtemp(prefix="cdp-trino-bench-"))
    lake = work / "lake"
    spark = build_spark_session(os.environ.get("CDP_SPARK_MASTER", "local[*]"), 4,
                                driver_memory="4g")
    started = time.perf_counter()
    paths = build_c360(spark, lake, args.people)
    customers = spark.read.format("delta").load(paths["customer_360"]).count()
    print(f"built Customer 360: {customers} customers from {args.people} people in "
          f"{time.perf_counter() - started:.1f}s", flush=True)
    spark.stop()

    home = work / "trino"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    trino_access.write_access_rules(
        home, {("c360", "customer_360"): {"email": "varchar", "phone": "varchar"}})
    server = trino_server.start(home, port=port, lake_root=lake)
    try:
        admin = TrinoResource.for_server(server, "admin")
        for name, path in paths.items():
            admin.register_delta_table("c360", name, path)
        analyst = TrinoResource.for_server(server, "analyst")
        with analyst.connect() as conn:
            cursor = conn.cursor()
            print(f"{'query':40} {'rows':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
            for name, sql in QUERIES.items():
                for _ in range(3):  # warm: plan cache, metadata, OS page cache
                    cursor.execute(sql)
                    cursor.fetchall()
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    cursor.execute(sql)
                    rows = cursor.fetchall()
                    times.append(time.perf_counter() - t0)
                print(f"{name:40} {len(rows):>6} {statistics.median(times):>7.3f} "
                      f"{percentile(times, 0.95):>7.3f} {max(times):>7.3f}", flush=True)
    finally:
        trino_server.stop(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
