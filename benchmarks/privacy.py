"""Privacy benchmark: 1,000 delete requests (connected strategy) against a lake of N source
records of the tiny test tenant's shape (shop customers, club members, orders), through the
``privacy`` assets: match, DELETE across every Delta table, landing files rewritten,
suppression hashes, VACUUM. Prints the wall time of applying them and the rows changed per
table.

    .venv/bin/python benchmarks/privacy.py [--records 1000000] [--requests 1000]

Setting up the lake (landing, ingest, Stitch preprocess, a generated unified_coalesced
instead of a Splink run) is timed separately and not part of the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

TENANTS = Path(__file__).resolve().parents[1] / "cdp_pipelines_tests" / "tenants"


def _generate(drop: Path, records: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    customers = records * 6 // 10
    members = records * 2 // 10
    orders = records - customers - members
    (drop / "shop").mkdir(parents=True)
    (drop / "club").mkdir(parents=True)
    with (drop / "shop" / "customers_20261101.csv").open("w") as out:
        out.write("customer_id,First Name,Last Name,email,birthdate,points,updated_at\n")
        for i in range(customers):
            out.write(f"s{i},Given{i % 997},Sur{i % 1009},person{i}@shopmail.net,"
                      f"{1 + i % 12:02d}/{1 + i % 28:02d}/{1950 + i % 50},{i % 100},"
                      "2026-11-01 09:00:00\n")
    with (drop / "club" / "members_1.psv").open("w") as out:
        out.write("member_id|full_name|email|loyalty_number\n")
        for i in range(members):
            out.write(f"m{i}|Given{i % 997} Sur{i % 1009}|person{i * 3}@shopmail.net|L{i}\n")
    with (drop / "shop" / "orders_20261101.jsonl").open("w") as out:
        for i in range(orders):
            out.write(json.dumps({"order_id": f"o{i}", "customer_id": f"s{rng.randrange(customers)}",
                                  "order_date": "2026-10-01", "total": "10.00"}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="source records in all (60%% customers, 20%% members, 20%% orders)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary lake")
    args = parser.parse_args()

    from dagster import AssetSelection, DagsterInstance, materialize
    from pyspark.sql import functions as F

    from cdp_pipelines.definitions import build_definitions
    from cdp_pipelines.governance.privacy.requests import store_requests
    from cdp_pipelines.tenant import load_tenant

    work = Path(tempfile.mkdtemp(prefix="cdp-privacy-bench-"))
    drop, lake, tenant = work / "drop", work / "lake", work / "tenant"
    # The tiny tenant with the tiny_privacy overlay (privacy.yaml, a privacy-request source).
    shutil.copytree(TENANTS / "tiny", tenant)
    shutil.copytree(TENANTS / "tiny_privacy", tenant, dirs_exist_ok=True)
    env = {**os.environ, "CDP_LAKE_ROOT": str(lake), "CDP_TENANT_DIR": str(tenant),
           "CDP_TEST_DROP": str(drop), "CDP_SPARK_MASTER": args.master,
           "CDP_AUDIT_LOG": str(work / "audit.jsonl"),
           "CDP_TEST_PRIVACY_SALT": os.environ.get("CDP_TEST_PRIVACY_SALT", "bench-salt")}
    os.environ.update({k: env[k] for k in ("CDP_AUDIT_LOG", "CDP_TEST_PRIVACY_SALT")})
    started = time.monotonic()
    _generate(drop, args.records)
    defs = build_definitions(env)

    def run(*keys):
        return materialize(list(defs.assets), resources=defs.resources,
                           selection=AssetSelection.assets(*keys),
                           instance=DagsterInstance.ephemeral())

    run(["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
        ["landing", "shop", "shop_orders"], ["domain", "shop_customers"],
        ["domain", "club_members"], ["domain", "shop_orders"],
        ["stitch", "unified_preprocessed_raw"])
    lake_resource = defs.resources["lake"]
    spark = lake_resource.session
    pre = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_preprocessed_raw")
    # One person per email: a member shares customer s<3i>'s email, so Stitch would link them.
    coalesced = pre.select(
        F.coalesce("email_norm", F.concat_ws(":", "source", "pk")).alias("amperity_id"),
        F.concat_ws(":", "source", "pk").alias("record_id"), "source", "source_system", "pk",
        F.col("email_norm").alias("email"), F.lit(False).alias("supersized"), "_updated")
    coalesced.write.format("delta").mode("overwrite").save(
        f"{lake}/prod/stitch/unified_coalesced")
    run(["stitch", "unified_transactions"])
    customers = args.records * 6 // 10
    chosen = random.Random(11).sample(range(customers), args.requests)
    spec = load_tenant(tenant, env).privacy
    accepted, rejected = store_requests(lake_resource, [(f"bench:{i}", {
        "request_id": f"b{i}", "type": "delete", "strategy": "connected",
        "email": f"person{i}@shopmail.net", "received": "2026-11-30"}) for i in chosen], spec)
    if rejected or len(accepted) != args.requests:
        raise SystemExit(f"{len(rejected)} request(s) rejected: {rejected[:3]}")
    setup = time.monotonic() - started

    started = time.monotonic()
    result = run(["privacy", "privacy_requests"], ["privacy", "unified_compliance"])
    wall = time.monotonic() - started
    meta = result.asset_materializations_for_node("privacy__unified_compliance")[0].metadata
    print(f"records: {args.records:,}  requests: {args.requests:,}  master: {args.master}")
    print(f"setup (generate, ingest, preprocess): {setup:.1f} s")
    print(f"apply {args.requests} delete requests: {wall:.1f} s wall")
    print(f"requests applied: {meta['requests_applied'].value}")
    print("rows changed per table:")
    for table, rows in sorted(meta["rows_changed_per_table"].value.items()):
        print(f"  {table}: {rows:,}")
    print(f"files rewritten: {len(meta['files_rewritten'].value)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
