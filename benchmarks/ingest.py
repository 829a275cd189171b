"""Ingest benchmark: rows/s and peak memory for loading CSV and Parquet files into a
domain table with ``domain.load_files`` (read, type, quarantine, Delta MERGE, ingest log),
against a plain Spark CSV-to-Delta append of the same file measured in the same run, and
the re-load of the same rows re-exported (another file, every row unchanged).

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--master local[2]]

Peak memory is sampled (every 0.2 s) as the resident memory of this Python process plus
its children (the Spark driver JVM and Python workers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from cdp_pipelines.tenant.sources import FeedSpec, FieldSpec, FormatSpec

FEED = FeedSpec(name="bench_customers", courier="bench", primary_key=("customer_id",),
                fields=(FieldSpec(name="customer_id", tags=("pk",)),
                        FieldSpec(name="first_name", source_column="First Name"),
                        FieldSpec(name="last_name", source_column="Last Name"),
                        FieldSpec(name="email", tags=("email",)),
                        FieldSpec(name="birthdate", type="date", format="MM/dd/yyyy"),
                        FieldSpec(name="points", type="int"),
                        FieldSpec(name="updated_at", type="timestamp", tags=("updated-at",))))
COLUMNS = ["customer_id", "First Name", "Last Name", "email", "birthdate", "points",
           "updated_at"]


def write_inputs(rows: int, where: Path) -> tuple[Path, Path, Path]:
    """The CSV, the same rows in reverse order as a second CSV (a re-export: another
    checksum, every row unchanged), and the rows as Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    ids = pa.array([f"c{i:08d}" for i in range(rows)])
    table = pa.table({
        "customer_id": ids,
        "First Name": pa.array([f"Given{i % 5000}" for i in range(rows)]),
        "Last Name": pa.array([f"Family{i % 7919}" for i in range(rows)]),
        "email": pa.array([f"person{i}@example.com" for i in range(rows)]),
        "birthdate": pa.array([f"{1 + i % 12:02d}/{1 + i % 28:02d}/{1950 + i % 50}"
                               for i in range(rows)]),
        "points": pa.array([str(i % 1000) for i in range(rows)]),
        "updated_at": pa.array([f"2026-11-{1 + i % 28:02d} 09:00:00" for i in range(rows)]),
    })
    csv_path, again_path = where / "customers.csv", where / "customers_again.csv"
    parquet_path = where / "customers.parquet"
    options = pacsv.WriteOptions(quoting_style="none")
    pacsv.write_csv(table, csv_path, options)
    pacsv.write_csv(table.take(pa.array(range(rows - 1, -1, -1))), again_path, options)
    pq.write_table(table, parquet_path)
    return csv_path, again_path, parquet_path


def plain_copy(spark, csv_path: Path, target: Path) -> tuple[int, float]:
    """The reference: Spark's own CSV reader appending the file to a Delta table, no
    typing, quarantine or key."""
    started = time.perf_counter()
    frame = spark.read.option("header", True).csv(str(csv_path))
    # Delta refuses spaces in column names.
    (frame.toDF(*[c.replace(" ", "_") for c in frame.columns])
     .write.format("delta").mode("append").save(str(target)))
    seconds = time.perf_counter() - started
    return spark.read.format("delta").load(str(target)).count(), seconds


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource
    from cdp_pipelines.sources.couriers import LandedFile, sha256_of
    from cdp_pipelines.sources.domain import load_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--no-parquet", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        csv_path, again_path, parquet_path = write_inputs(args.rows, work)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wrote "
              f"{args.rows:,} rows as CSV ({csv_path.stat().st_size / 1e6:.0f} MB) and "
              f"Parquet ({parquet_path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        spark = SparkResource(master=args.master, shuffle_partitions=4, driver_memory="2g")
        session = spark.get_session()  # start-up is not part of the measurement
        # Spark's first CSV read and Delta write load their classes: warm up on a copy.
        plain_copy(session, csv_path, work / "warm-up")
        rows, seconds = plain_copy(session, csv_path, work / "plain")
        plain_rate = rows / seconds
        print(f"plain    {rows:,} rows: Spark CSV to Delta append in {seconds:.1f} s: "
              f"{plain_rate:,.0f} rows/s")

        def load(name: str, lake: DeltaLake, path: Path, fmt: FormatSpec) -> float:
            landed = LandedFile(path.name, path, path.stat().st_size, sha256_of(path), None,
                                True)
            with PeakMemory() as memory:
                started = time.perf_counter()
                result = load_files(lake, FEED, fmt, [landed], run_id=f"bench-{name}")
                seconds = time.perf_counter() - started
            stored = lake.read("domain", FEED.name).count()
            print(f"{name:8s} {result.rows_read:,} rows read, {stored:,} stored, "
                  f"{result.rows_quarantined:,} quarantined in {seconds:.1f} s: "
                  f"{result.rows_read / seconds:,.0f} rows/s; peak memory "
                  f"{memory.peak / 2**20:,.0f} MiB (Python + Spark JVM); seconds: "
                  f"{result.timings}")
            return seconds

        lake = DeltaLake.for_deployment(spark, Deployment(lake_root=str(work / "lake_csv")))
        first = load("csv", lake, csv_path, FormatSpec(type="csv"))
        again = load("re-load", lake, again_path, FormatSpec(type="csv"))
        print(f"feed path / plain copy: {args.rows / first / plain_rate:.2f} (target >= 0.5); "
              f"re-load of the unchanged rows / first load: {again / first:.2f} "
              f"(target < 0.33)")
        if not args.no_parquet:
            load("parquet", DeltaLake.for_deployment(
                spark, Deployment(lake_root=str(work / "lake_parquet"))), parquet_path,
                FormatSpec(type="parquet"))


if __name__ == "__main__":
    main()
