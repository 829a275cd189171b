"""Stable IDs under churn, end to end through Dagster on the demo tenant (its S3 and SFTP
sources on the stand-ins): after 1% new records and 1% changed records, at least 99.9%
of the untouched records keep their amperity_id."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.examples import standins
from cdp_pipelines.examples.demo_tenant import generator

STITCH = ("unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
          "unified_coalesced", "unified_changes_clusters", "unified_changes_pks")
NEW_GIVEN = ("Ines", "Oskar", "Priya", "Tomasz", "Yuki", "Lena", "Rafael", "Anouk")


def _run(env: dict[str, str]) -> None:
    defs = build_definitions(env)
    selection = AssetSelection.groups("sources", "domain") | AssetSelection.assets(
        *[["stitch", name] for name in STITCH])
    result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["every_record_has_an_id"] is True


def _ids(spark, lake: Path) -> dict[str, str]:
    rows = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced").collect()
    return {r["record_id"]: r["amperity_id"] for r in rows}


def test_one_percent_churn_keeps_untouched_ids(tmp_path: Path, spark, demo_standins) -> None:
    generator.generate(tmp_path / "demo", people=120, seed=21, days=2)
    drop = tmp_path / "demo" / "drop"
    standins.publish(drop, demo_standins)
    lake = tmp_path / "lake"
    env = {**os.environ, "CDP_LAKE_ROOT": str(lake), "CDP_DEMO_DROP": str(drop),
           **demo_standins.env()}
    _run(env)
    before = _ids(spark, lake)
    n = max(2, round(len(before) * 0.01))

    # Day three at the tills: n new customers, and n known ones who moved (a newer row
    # for an existing customer_id with another address and phone).
    with open(drop / "pos" / "customers_20261102.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, list(reader)
    moved = rows[:n]
    new_rows = []
    for i, row in enumerate(moved):
        new_rows.append({**row, "address": f"{900 + i} Harbour View Rd", "city": "Portland",
                         "state": "OR", "zip": "97201", "phone": f"503-555-01{i:02d}",
                         "updated_at": "2026-11-03 10:00:00"})
    for i in range(n):
        new_rows.append({c: "" for c in columns} | {
            "customer_id": f"99{i:05d}", "first_name": NEW_GIVEN[i % len(NEW_GIVEN)],
            "last_name": f"Newcomb{i}", "email": f"newcomer{i}@example.org",
            "address": f"{i + 1} Quay St", "city": "Boston", "state": "MA", "zip": "02110",
            "updated_at": "2026-11-03 10:00:00"})
    with open(drop / "pos" / "customers_20261103.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(new_rows)
    _run(env)
    after = _ids(spark, lake)

    touched = {f"pos_customers:{r['customer_id']}" for r in moved}
    untouched = [r for r in before if r not in touched]
    kept = sum(after.get(r) == before[r] for r in untouched)
    assert kept / len(untouched) >= 0.999, (kept, len(untouched))
    added = [f"pos_customers:99{i:05d}" for i in range(n)]
    assert all(after[r] not in set(before.values()) for r in added)
    # The change log names exactly the records whose id is not what it was.
    logged = {r["record_id"]: (r["old_id"], r["new_id"]) for r in spark.read.format("delta")
              .load(f"{lake}/prod/stitch/unified_changes_pks").collect()}
    assert logged == {r: (before.get(r), after[r]) for r in after if before.get(r) != after[r]}
