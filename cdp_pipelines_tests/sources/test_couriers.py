"""Couriers against real servers: S3 (moto), Azure Blob (Azurite), SFTP (OpenSSH), a local
REST server and PostgreSQL. Each lands new files once; a re-run lands nothing twice."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from cdp_pipelines.sources.couriers import land
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec
from cdp_pipelines.transports import (
    HttpError,
    Warehouse,
    WarehouseOptions,
    make_store,
    parse_options,
)
from cdp_pipelines_tests.sources.conftest import (
    REMOTE_TYPES,
    REST_RECORDS,
    store_options,
)


@pytest.mark.parametrize("kind", REMOTE_TYPES)
def test_remote_courier_lands_new_files_once(kind, request, monkeypatch, landing) -> None:
    options = store_options(kind, request, monkeypatch)
    spec = CourierSpec(name="drops", type=kind, pattern="exports/customers_{yyyy}{MM}{dd}.csv",
                       options=options)
    store = make_store(parse_options({"type": kind, **options}))
    try:
        store.write_bytes("exports/customers_20261102.csv", b"id\n2\n")
        store.write_bytes("exports/customers_20261101.csv", b"id\n1\n")
        store.write_bytes("exports/orders_20261101.csv", b"not mine\n")
        store.write_bytes("exports/old/customers_20261031.csv", b"other folder\n")

        first = land(spec, landing)
        # Oldest first, by the date in the name; only exact pattern matches.
        assert [f.relpath for f in first] == ["exports/customers_20261101.csv",
                                              "exports/customers_20261102.csv"]
        assert all(f.newly_landed for f in first)
        assert (landing / "exports/customers_20261102.csv").read_bytes() == b"id\n2\n"
        assert first[0].file_date == datetime(2026, 11, 1)

        assert not any(f.newly_landed for f in land(spec, landing))

        store.write_bytes("exports/customers_20261102.csv", b"id\n2\n3\n")
        again = land(spec, landing)
        assert [f.relpath for f in again if f.newly_landed] == ["exports/customers_20261102.csv"]
        assert (landing / "exports/customers_20261102.csv").read_bytes() == b"id\n2\n3\n"
    finally:
        store.close()


def test_courier_options_refuse_inline_secrets_and_missing_keys() -> None:
    with pytest.raises(ValidationError, match="must not hold secrets"):
        CourierSpec(name="x", type="sftp", pattern="*.csv",
                    options={"host": "h", "username": "u", "password": "hunter2"})
    with pytest.raises(ValidationError, match=r"options\.s3\.bucket\n  Field required"):
        CourierSpec(name="x", type="s3", pattern="*.csv", options={})
    with pytest.raises(ValidationError, match="needs 'root'"):
        CourierSpec(name="x", pattern="*.csv")


@pytest.mark.parametrize("path,pagination", [
    ("/items/pages", {"style": "page_number", "records_field": "data", "page_size": 3,
                      "page_size_param": "per_page"}),
    ("/items/cursor", {"style": "cursor", "records_field": "data", "page_size": 3,
                       "page_size_param": "limit"}),
    ("/items/link", {"style": "link_header", "page_size": 3, "page_size_param": "limit"}),
])
def test_rest_courier_writes_each_pull_as_jsonl(rest, landing, path, pagination) -> None:
    spec = CourierSpec(name="crm_api", type="rest", options={
        "base_url": rest.base_url, "path": path, "pagination": pagination,
        "token_env": "REST_TOKEN"})
    landed = land(spec, landing)
    assert len(landed) == 1 and landed[0].newly_landed
    name = landed[0].relpath
    assert FilePattern(spec.pattern).match(name) and name.endswith(".jsonl")
    pulled = landed[0].file_date
    assert abs((pulled - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()) < 120
    lines = landed[0].path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == REST_RECORDS
    assert len(rest.requests_to(path)) == 3  # 7 records, 3 per page


def test_rest_courier_without_token_is_refused(rest, landing, monkeypatch) -> None:
    monkeypatch.delenv("REST_TOKEN")
    spec = CourierSpec(name="crm_api", type="rest", options={
        "base_url": rest.base_url, "path": "/items/pages", "token_env": "NO_SUCH_TOKEN_VAR"})
    with pytest.raises(Exception, match="NO_SUCH_TOKEN_VAR"):
        land(spec, landing)
    assert not landing.exists() or not any(landing.rglob("*.jsonl"))


def test_rest_courier_error_lands_nothing(rest, landing) -> None:
    spec = CourierSpec(name="crm_api", type="rest", options={
        "base_url": rest.base_url, "path": "/no/such/route", "token_env": "REST_TOKEN"})
    with pytest.raises(HttpError, match="404"):
        land(spec, landing)
    assert not landing.exists() or not any(p.is_file() for p in landing.rglob("*"))


@pytest.fixture
def warehouse(postgres, monkeypatch):
    monkeypatch.setenv("SRC_PG_PASSWORD", postgres.password)
    config = {"host": postgres.host, "port": postgres.port, "database": postgres.database,
              "username": postgres.user, "password_env": "SRC_PG_PASSWORD"}
    made = Warehouse.from_options(WarehouseOptions(**config))
    yield made, config
    made.close()


def _customers(ids: list[int], hour: int) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "email": [f"c{i}@example.com" for i in ids],
                         "updated_at": pd.to_datetime([f"2026-11-01 {hour:02d}:{i:02d}:00"
                                                       for i in ids])})


@pytest.mark.parametrize("output", ["parquet", "jsonl"])
def test_warehouse_courier_is_incremental(warehouse, landing, tmp_path, output) -> None:
    wh, config = warehouse
    table = f"src_customers_{output}"
    wh.write_table(_customers([1, 2, 3], 9), table, mode="replace")
    spec = CourierSpec(name=f"crm_{output}", type="warehouse", options={
        **config, "table": table, "updated_at_column": "updated_at", "output": output})
    state = tmp_path / "_system"

    def read(path: Path) -> pd.DataFrame:
        return pd.read_parquet(path) if output == "parquet" else pd.read_json(path, lines=True)

    first = land(spec, landing, state_dir=state)
    assert len(first) == 1 and first[0].relpath.endswith(f".{output}")
    assert sorted(read(first[0].path)["customer_id"]) == [1, 2, 3]
    mark = json.loads((state / f"{spec.name}.json").read_text())["watermark"]
    assert mark == {"type": "timestamp", "value": "2026-11-01T09:03:00"}

    assert land(spec, landing, state_dir=state) == []  # nothing new: no file

    wh.write_table(_customers([2, 4], 10), table, mode="append")
    second = land(spec, landing, state_dir=state)
    assert len(second) == 1 and second[0].relpath != first[0].relpath
    assert sorted(read(second[0].path)["customer_id"]) == [2, 4]


def test_warehouse_watermark_waits_for_the_landing(warehouse, landing, tmp_path) -> None:
    wh, config = warehouse
    wh.write_table(_customers([1], 9), "src_customers_fail", mode="replace")
    spec = CourierSpec(name="crm_fail", type="warehouse", options={
        **config, "table": "src_customers_fail", "updated_at_column": "updated_at"})
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the landing directory should be")
    with pytest.raises(OSError):
        land(spec, blocked, state_dir=tmp_path / "_system")
    # The failed run stored no watermark: the next run pulls the same rows.
    assert not (tmp_path / "_system" / "crm_fail.json").exists()
    assert len(land(spec, landing, state_dir=tmp_path / "_system")) == 1


def test_wait_minutes_polls_until_the_file_arrives(tmp_path, landing) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    spec = CourierSpec(name="late", root=str(drop), pattern="late_*.csv")
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            (drop / "late_1.csv").write_text("id\n1\n")

    landed = land(spec, landing, wait_minutes=1, poll_seconds=0.01, sleep=sleep)
    assert [f.relpath for f in landed] == ["late_1.csv"] and len(sleeps) == 2
    assert land(CourierSpec(name="never", root=str(drop), pattern="never_*.csv"), landing,
                wait_minutes=0.001, poll_seconds=0.01) == []
