"""Incremental loads and backfill on a real Spark and Delta lake: a re-run loads nothing
twice; a backfill re-lands and reloads exactly the files of its dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.sources.couriers import land, landed_files
from cdp_pipelines.sources.couriers.backfill import backfill
from cdp_pipelines.sources.domain import QUARANTINE_TABLE, load_files
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.conftest import TINY_TENANT

HEADER = "customer_id,First Name,Last Name,email,birthdate,points,updated_at\n"


def customers(day: int, points: int, extra: str = "") -> str:
    return (HEADER + f"c{day},Ann,Lee,ann{day}@x.com,01/02/1980,{points},"
            f"2026-11-{day:02d} 09:00:00\n" + extra)


@pytest.fixture
def tenant(tmp_path: Path, spark):
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True)
    config = load_tenant(TINY_TENANT, env={"CDP_TEST_DROP": str(drop)})
    deployment = Deployment(lake_root=str(tmp_path / "lake"), tenant_dir=TINY_TENANT)
    lake = DeltaLake.for_deployment(SparkResource(), deployment)
    source = config.source("shop")
    courier = next(c for c in source.couriers if c.name == "shop_customers")
    landing = Path(deployment.path("landing", "shop", "shop_customers"))
    return drop / "shop", config, deployment, lake, courier, landing


def test_rerun_loads_nothing_twice_and_backfill_reloads_its_dates(tenant) -> None:
    drop, config, deployment, lake, courier, landing = tenant
    feed = config.feed("shop_customers")
    for day in (1, 2, 3):
        (drop / f"customers_202611{day:02d}.csv").write_text(customers(day, day))
    (drop / "customers_20261104.csv").write_text(
        customers(4, 4, extra="c5,Bob,Ray,bob@x.com,,notanumber,2026-11-04 09:00:00\nc6,x\n"))

    first = load_files(lake, feed, courier.format, land(courier, landing), "run1")
    assert first.rows_read == 6 and first.rows_quarantined == 2
    quarantined = lake.read("domain", QUARANTINE_TABLE).where("feed = 'shop_customers'")
    assert quarantined.count() == 2
    again = load_files(lake, feed, courier.format, land(courier, landing), "run2")
    assert again.files == [] and again.rows_read == 0

    # The source corrects day 2; a plain run does not see it (same name and size)...
    (drop / "customers_20261102.csv").write_text(customers(2, 9))
    assert not any(f.newly_landed for f in land(courier, landing))
    # ...a backfill of that day does, and only that day is reloaded.
    result = backfill("shop_customers", "2026-11-02", "2026-11-02", config=config,
                      deployment=deployment, lake=lake)
    assert result.refetched == ["shop/customers_20261102.csv"]
    assert result.changed == ["shop/customers_20261102.csv"]
    assert result.marked_for_reload == ["shop/customers_20261102.csv"]
    assert result.feeds == ["shop_customers"]
    reload = load_files(lake, feed, courier.format, landed_files(courier, landing), "run3")
    assert reload.files == ["shop/customers_20261102.csv"] and reload.rows_read == 1
    points = {r["customer_id"]: r["points"] for r in lake.read("domain", feed.name).collect()}
    assert points == {"c1": 1, "c2": 9, "c3": 3, "c4": 4}


def test_backfill_refuses_a_bad_range(tenant) -> None:
    _, config, deployment, lake, _, _ = tenant
    with pytest.raises(ValueError, match="start 2026-11-05 is after end 2026-11-01"):
        backfill("shop_customers", "2026-11-05", "2026-11-01", config=config,
                 deployment=deployment, lake=lake)
    with pytest.raises(ValueError, match="no courier named 'nope'"):
        backfill("nope", "2026-11-01", "2026-11-02", config=config, deployment=deployment,
                 lake=lake)
