"""Feeds into Delta domain tables on a real Spark: typing, quarantine, upsert, idempotency."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from cdp_pipelines.deployment import get_deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.sources.couriers import land
from cdp_pipelines.sources.domain import QUARANTINE_TABLE, load_files
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.conftest import TINY_TENANT

HEADER = "customer_id,First Name,Last Name,email,birthdate,points,updated_at\n"


@pytest.fixture
def env(tmp_path: Path, spark):
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True)
    environ = {"CDP_LAKE_ROOT": str(tmp_path / "lake"), "CDP_TEST_DROP": str(drop)}
    config = load_tenant(TINY_TENANT, env=environ)
    lake = DeltaLake.for_deployment(SparkResource(), get_deployment(environ))
    return drop, config, lake


def _load(config, lake, feed_name: str, run: str):
    source = next(s for s, f in config.feeds if f.name == feed_name)
    feed = config.feed(feed_name)
    courier = next(c for c in source.couriers if c.name == feed.courier)
    files = land(courier, Path(lake.path("landing", source.name, courier.name)))
    return load_files(lake, feed, courier.format, files, run)


def _rows(lake, table):
    return {r["customer_id"]: r.asDict() for r in lake.read("domain", table).collect()}


def test_upsert_is_idempotent_and_newest_wins(env) -> None:
    drop, config, lake = env
    (drop / "shop" / "customers_20261101.csv").write_text(
        HEADER
        + "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n"
        + "c2,Bob,Ray,bob@x.com,,5,2026-11-01 09:00:00\n"
        + "c2,Bobby,Ray,bob@x.com,,6,2026-11-01 10:00:00\n"  # later in the same file wins
    )
    first = _load(config, lake, "shop_customers", "run1")
    assert first.rows_read == 3 and first.rows_quarantined == 0
    rows = _rows(lake, "shop_customers")
    assert set(rows) == {"c1", "c2"}
    assert rows["c2"]["first_name"] == "Bobby" and rows["c2"]["points"] == 6
    assert str(rows["c1"]["birthdate"]) == "1980-01-02"
    version = lake.read("domain", "shop_customers").sparkSession.sql(
        f"DESCRIBE HISTORY delta.`{lake.path('domain', 'shop_customers')}`").count()

    # The same file again: nothing is read, nothing written.
    again = _load(config, lake, "shop_customers", "run2")
    assert again.files == [] and again.stats is None
    assert _rows(lake, "shop_customers") == rows

    # A new day's file: c1 updated (newer updated_at), c2 resent unchanged, c3 new,
    # and a stale version of c1 that must lose to the stored newer one.
    (drop / "shop" / "customers_20261102.csv").write_text(
        HEADER
        + "c1,Ann,Lee-Smith,ann@x.com,01/02/1980,12,2026-11-02 08:00:00\n"
        + "c2,Bobby,Ray,bob@x.com,,6,2026-11-01 10:00:00\n"
        + "c3,Cy,Doe,cy@x.com,,0,2026-11-02 08:00:00\n"
    )
    (drop / "shop" / "customers_20261103.csv").write_text(
        HEADER + "c1,Ann,Old,ann@x.com,01/02/1980,1,2026-10-01 08:00:00\n")
    third = _load(config, lake, "shop_customers", "run3")
    rows3 = _rows(lake, "shop_customers")
    assert set(rows3) == {"c1", "c2", "c3"}
    assert rows3["c1"]["last_name"] == "Lee-Smith" and rows3["c1"]["points"] == 12
    assert rows3["c2"]["_run_id"] == "run1"  # unchanged row not rewritten
    assert int(third.stats.metrics["numTargetRowsUpdated"]) == 1
    assert int(third.stats.metrics["numTargetRowsInserted"]) == 1
    assert version >= 1


def test_bad_rows_are_quarantined_with_reasons(env) -> None:
    drop, config, lake = env
    (drop / "shop" / "customers_20261101.csv").write_text(
        HEADER
        + "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n"
        + "c2,Bob,Ray,bob@x.com,31/31/1980,5,2026-11-01 09:00:00\n"
        + ",No,Key,nokey@x.com,,1,2026-11-01 09:00:00\n"
        + "c4,Too,Many,fields@x.com,,1,2026-11-01 09:00:00,extra,extra\n"
        + "c5,Pts,Bad,p@x.com,,lots,2026-11-01 09:00:00\n"
    )
    result = _load(config, lake, "shop_customers", "run1")
    assert result.rows_read == 5 and result.rows_quarantined == 4
    assert set(_rows(lake, "shop_customers")) == {"c1"}
    q = {json.loads(r["record"]).get("customer_id"): r["reason"]
         for r in lake.read("domain", QUARANTINE_TABLE).collect()}
    assert "field birthdate: cannot read '31/31/1980' as date (MM/dd/yyyy)" in q["c2"]
    assert q[None] == "primary key field customer_id is missing"
    assert "malformed CSV row: wrong number of fields" in q["c4"]
    lines = {json.loads(r["record"]).get("customer_id"): r["line"]
             for r in lake.read("domain", QUARANTINE_TABLE).collect()}
    assert lines["c2"] == 3 and lines["c4"] == 5  # file line numbers, header is line 1
    assert "field points: cannot read 'lots' as int" in q["c5"]
    # A re-run after a failure between steps must not duplicate quarantine rows.
    import shutil

    from cdp_pipelines.sources.domain import INGEST_LOG_TABLE
    shutil.rmtree(lake.path("_system", INGEST_LOG_TABLE))
    _load(config, lake, "shop_customers", "run2")
    assert lake.read("domain", QUARANTINE_TABLE).count() == 4


def test_jsonl_bad_line_quarantined_and_unreadable_file_fails(env) -> None:
    drop, config, lake = env
    (drop / "shop" / "orders_20261101.jsonl").write_text(
        '{"order_id": "o1", "customer_id": "c1", "order_date": "2026-11-01", "total": 12.5}\n'
        '{"order_id": "o2", "customer_id": "c1", "order_date": "2026-11-01", "total": \n'
        '{"order_id": "o3", "customer_id": "c2", "order_date": "2026-11-01", "total": "9"}\n'
    )
    result = _load(config, lake, "shop_orders", "run1")
    assert result.rows_quarantined == 1
    orders = {r["order_id"]: r["total"] for r in lake.read("domain", "shop_orders").collect()}
    assert {k: float(v) for k, v in orders.items()} == {"o1": 12.5, "o3": 9.0}

    # A file of another layout loads nothing, is quarantined whole and blocks nothing.
    (drop / "shop" / "customers_20261101.csv").write_text("id,name\n1,x\n")
    result = _load(config, lake, "shop_customers", "run2")
    assert result.files == [] and list(result.unreadable) == ["shop/customers_20261101.csv"]
    assert re.search(r"customers_20261101.csv: columns .*First Name",
                     result.unreadable["shop/customers_20261101.csv"])
    assert not lake.exists("domain", "shop_customers")
    (whole,) = lake.read("domain", QUARANTINE_TABLE).where(
        "source_file = 'shop/customers_20261101.csv'").collect()
    assert whole["reason"].startswith("unreadable file, nothing loaded: ") and whole["line"] is None


def _history(lake, table: str) -> int:
    return lake.session.sql(
        f"DESCRIBE HISTORY delta.`{lake.path('domain', table)}`").count()


ORDERS = ('{{"order_id": "o1", "customer_id": "c1", "order_date": "2026-11-01", '
          '"total": {total}}}\n')


def test_a_redelivered_old_file_rolls_nothing_back(env) -> None:
    """Issue 17, case 1: the feed has no updated-at; an old file sent again under a new name
    (same bytes) is a duplicate delivery, and delivery order (not the date in a name)
    decides between versions."""
    drop, config, lake = env
    assert config.feed("shop_orders").updated_at is None
    first = drop / "shop" / "orders_20261101.jsonl"
    first.write_text(ORDERS.format(total=10))
    _load(config, lake, "shop_orders", "run1")
    (drop / "shop" / "orders_20261102.jsonl").write_text(ORDERS.format(total=12))
    _load(config, lake, "shop_orders", "run2")
    versions = _history(lake, "shop_orders")

    (drop / "shop" / "orders_20261103.jsonl").write_bytes(first.read_bytes())
    again = _load(config, lake, "shop_orders", "run3")
    assert again.duplicates == {"shop/orders_20261103.jsonl": "shop/orders_20261101.jsonl"}
    assert again.files == [] and again.stats is None
    (o1,) = lake.read("domain", "shop_orders").collect()
    assert float(o1["total"]) == 12.0
    assert _history(lake, "shop_orders") == versions  # no new table version
    log = lake.read("_system", "ingest_log").where(
        "file = 'shop/orders_20261103.jsonl'").collect()
    assert [(r["status"], r["note"]) for r in log] == [
        ("duplicate", "same content as shop/orders_20261101.jsonl")]

    # A file named with an older date but delivered later is the newer version.
    (drop / "shop" / "orders_20261020.jsonl").write_text(ORDERS.format(total=7))
    _load(config, lake, "shop_orders", "run4")
    (o1,) = lake.read("domain", "shop_orders").collect()
    assert float(o1["total"]) == 7.0


def test_an_empty_file_is_quarantined_and_blocks_nothing(env) -> None:
    """Issue 17, case 2."""
    drop, config, lake = env
    (drop / "shop" / "customers_20261101.csv").write_text("")
    empty = _load(config, lake, "shop_customers", "run1")
    assert "empty file, no header line" in empty.unreadable["shop/customers_20261101.csv"]
    (drop / "shop" / "customers_20261102.csv").write_text(
        HEADER + "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n")
    later = _load(config, lake, "shop_customers", "run2")
    assert later.files == ["shop/customers_20261102.csv"] and later.unreadable == {}
    assert set(_rows(lake, "shop_customers")) == {"c1"}


def test_a_truncated_archive_loads_nothing_until_delivered_whole(env) -> None:
    """Issue 17, case 3: nothing of a truncated gzip loads; the whole file is quarantined
    with the reason; the complete file delivered again loads."""
    drop, config, lake = env
    body = "".join(ORDERS.format(total=i).replace('"o1"', f'"o{i}"') for i in range(2000))
    data = gzip.compress(body.encode())
    (drop / "shop" / "orders_20261101.jsonl.gz").write_bytes(data[: len(data) // 2])
    result = _load(config, lake, "shop_orders", "run1")
    assert result.rows_read == 0 and not lake.exists("domain", "shop_orders")
    assert "truncated or corrupt archive" in result.unreadable["shop/orders_20261101.jsonl.gz"]
    (quarantined,) = lake.read("domain", QUARANTINE_TABLE).collect()
    assert quarantined["source_file"] == "shop/orders_20261101.jsonl.gz"
    (drop / "shop" / "orders_20261101.jsonl.gz").write_bytes(data)
    whole = _load(config, lake, "shop_orders", "run2")
    assert whole.rows_read == 2000
    assert lake.read("domain", "shop_orders").count() == 2000


def test_a_rerun_that_changes_nothing_writes_no_version(env) -> None:
    """Issue 17, case 6: rows already stored, read again (the ingest log lost, as after a
    kill between the merge and the log), make no new Delta version."""
    import shutil

    from cdp_pipelines.sources.domain import INGEST_LOG_TABLE

    drop, config, lake = env
    (drop / "shop" / "customers_20261101.csv").write_text(
        HEADER + "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n")
    _load(config, lake, "shop_customers", "run1")
    versions = _history(lake, "shop_customers")
    shutil.rmtree(lake.path("_system", INGEST_LOG_TABLE))
    again = _load(config, lake, "shop_customers", "run2")
    assert again.files == ["shop/customers_20261101.csv"] and again.stats is None
    assert _history(lake, "shop_customers") == versions
