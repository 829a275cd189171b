"""Materialize the source assets of a tiny tenant with Dagster, on real Spark and Delta."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines_tests.conftest import TINY_TENANT

CUSTOMERS = (
    "customer_id,First Name,Last Name,email,birthdate,points,updated_at\n"
    "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n"
    "c2,Bob,Ray,not-an-email,,5,2026-11-01 09:00:00\n"
    "c3,Cy,Doe,cy@x.com,13/45/1990,1,2026-11-01 09:00:00\n"
)
ORDERS = (
    '{"order_id": "o1", "customer_id": "c1", "order_date": "2026-11-01", "total": 10}\n'
    '{"order_id": "o2", "customer_id": "c1", "order_date": "2026-11-02", "total": 5.5}\n'
)
MEMBERS = "member_id|full_name|email|loyalty_number\nm1|Ann Lee|ann@x.com|L1\n"


SOURCES = AssetSelection.groups("sources", "domain")


def _run(env: dict[str, str], tmp_path: Path, selection=SOURCES):
    defs = build_definitions(env)
    return materialize(list(defs.assets), resources=defs.resources, selection=selection,
                       instance=DagsterInstance.ephemeral(), raise_on_error=False)


def test_tiny_tenant_sources_materialize(tmp_path: Path, spark) -> None:
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True)
    (drop / "club").mkdir(parents=True)
    (drop / "shop" / "customers_20261101.csv").write_text(CUSTOMERS)
    (drop / "shop" / "orders_20261101.jsonl").write_text(ORDERS)
    (drop / "club" / "members_1.psv").write_text(MEMBERS)
    env = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path / "lake"),
           "CDP_TENANT_DIR": str(TINY_TENANT), "CDP_TEST_DROP": str(drop)}
    result = _run(env, tmp_path)
    assert result.success
    counts = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
        if "dagster/row_count" in e.materialization.metadata
    }
    assert counts == {"domain/shop_customers": 2, "domain/shop_orders": 2,
                      "domain/club_members": 1, "domain/customer_order_totals": 2}
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert meta["domain/shop_customers"]["rows_quarantined"].value == 1
    assert meta["landing/shop/shop_customers"]["files_landed"].value == 1
    # PII is masked in the preview a person sees in the UI.
    preview = meta["domain/shop_customers"]["preview"].value
    assert "ann@x.com" not in preview and "Ann" not in preview and "c1" in preview
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed
              for e in result.get_asset_check_evaluations()}
    assert checks[("domain/shop_customers", "keys_valid")] is True
    # One of two emails fails the pattern: below the 90% bar, a warning.
    assert checks[("domain/shop_customers", "values_valid")] is False

    totals = spark.read.format("delta").load(
        f"{tmp_path}/lake/prod/domain/customer_order_totals").collect()
    assert {r["customer_id"]: (r["orders"], float(r["revenue"])) for r in totals} == {
        "c1": (2, 15.5), "c2": (0, 0.0)}

    # A second run lands and loads nothing new and changes no row.
    again = _run(env, tmp_path, selection=[AssetKey(["landing", "shop", "shop_customers"]),
                                           AssetKey(["domain", "shop_customers"])])
    meta2 = {e.asset_key.to_user_string(): e.materialization.metadata
             for e in again.get_asset_materialization_events()}
    assert meta2["landing/shop/shop_customers"]["files_landed"].value == 0
    assert meta2["domain/shop_customers"]["files_loaded"].value == 0


def test_sandbox_run_writes_only_under_its_prefix(tmp_path: Path, spark) -> None:
    drop = tmp_path / "drop"
    (drop / "club").mkdir(parents=True)
    (drop / "club" / "members_1.psv").write_text(MEMBERS)
    base = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path / "lake"),
            "CDP_TENANT_DIR": str(TINY_TENANT), "CDP_TEST_DROP": str(drop)}
    selection = [AssetKey(["landing", "club", "club_members"]), AssetKey(["domain", "club_members"])]
    assert _run(base, tmp_path, selection).success
    prod_files = sorted(p for p in (tmp_path / "lake" / "prod").rglob("*") if p.is_file())
    stamp = {p: p.stat().st_mtime_ns for p in prod_files}

    sandbox = {**base, "CDP_SANDBOX": "trial"}
    assert _run(sandbox, tmp_path, selection).success
    lake = tmp_path / "lake"
    assert (lake / "branches" / "trial" / "domain" / "club_members" / "_delta_log").is_dir()
    # Production untouched: same files, same modification times; nothing else written.
    after = sorted(p for p in (lake / "prod").rglob("*") if p.is_file())
    assert after == prod_files and all(p.stat().st_mtime_ns == stamp[p] for p in after)
    assert {p.name for p in lake.iterdir()} == {"prod", "branches"}
    assert not (lake / "branches" / "trial" / "landing").exists()


def test_a_truncated_archive_fails_the_run_through_its_check(tmp_path: Path, spark) -> None:
    """Issue 17, case 3: a half-delivered gzip loads nothing and the blocking
    files_readable check fails the run; with `unreadable_files: warn` the run goes on."""
    import gzip
    import shutil

    tenant = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, tenant)
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True)
    data = gzip.compress(ORDERS.encode() * 400)
    (drop / "shop" / "orders_20261101.jsonl.gz").write_bytes(data[: len(data) // 2])
    (drop / "shop" / "orders_20261102.jsonl").write_text(ORDERS)
    env = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path / "lake"),
           "CDP_TENANT_DIR": str(tenant), "CDP_TEST_DROP": str(drop)}
    orders = [AssetKey(["landing", "shop", "shop_orders"]), AssetKey(["domain", "shop_orders"])]
    result = _run(env, tmp_path, selection=orders)
    assert not result.success
    (check,) = [e for e in result.get_asset_check_evaluations()
                if e.check_name == "files_readable"]
    assert check.passed is False and check.severity.value == "ERROR"
    assert "shop/orders_20261101.jsonl.gz" in check.metadata["unreadable_files"].value
    rows = spark.read.format("delta").load(f"{tmp_path}/lake/prod/domain/shop_orders").count()
    assert rows == 2  # the good file only

    source = tenant / "sources" / "shop.yaml"
    source.write_text(source.read_text().replace(
        "courier: shop_orders\n", "courier: shop_orders\n    unreadable_files: warn\n", 1))
    (drop / "shop" / "orders_20261103.jsonl.gz").write_bytes(data[: len(data) // 3])
    warned = _run({**env, "CDP_LAKE_ROOT": str(tmp_path / "lake2")}, tmp_path, selection=orders)
    assert warned.success
    (check,) = [e for e in warned.get_asset_check_evaluations()
                if e.check_name == "files_readable"]
    assert check.passed is False and check.severity.value == "WARN"
