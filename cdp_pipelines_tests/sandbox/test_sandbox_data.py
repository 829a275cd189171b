"""Sandbox and production materialized side by side on real Spark and Delta, and the data diff."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.sandbox.datadiff import diff_data, render
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.sandbox.conftest import as_user

CUSTOMERS = (
    "customer_id,First Name,Last Name,email,birthdate,points,updated_at\n"
    "c1,Ann,Lee,ann@x.com,01/02/1980,10,2026-11-01 09:00:00\n"
    "c2,Bob,Ray,bob@x.com,,5,2026-11-01 09:00:00\n"
)
ORDERS = '{"order_id": "o1", "customer_id": "c1", "order_date": "2026-11-01", "total": 10}\n'


SHOP_TABLES = {"shop_customers", "shop_orders", "customer_order_totals"}


def _materialize(env: dict[str, str], tables: set[str]) -> None:
    defs = build_definitions(env)
    keys = [key for asset in defs.assets for key in asset.keys
            if key.path[:2] == ["landing", "shop"]
            or (key.path[0] == "domain" and key.path[1] in tables)]
    result = materialize(list(defs.assets), resources=defs.resources, selection=keys,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.event_specific_data.error.message
                            for e in result.get_step_failure_events()]


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_sandbox_materializes_beside_production_and_promotes(
        prod_env: dict[str, str], tmp_path: Path, spark) -> None:
    drop = tmp_path / "drop"
    for path, text in (("shop/customers_20261101.csv", CUSTOMERS),
                       ("shop/orders_20261101.jsonl", ORDERS)):
        (drop / path).parent.mkdir(parents=True, exist_ok=True)
        (drop / path).write_text(text)
    prod_env = {**prod_env, "CDP_TEST_DROP": str(drop)}
    lake = Path(prod_env["CDP_LAKE_ROOT"])
    _materialize(prod_env, SHOP_TABLES)

    # A sandbox drops customer c2 from a custom table and loosens Stitch: config changes.
    state = as_user(prod_env, "bob").create("trial")
    sql = state.worktree / "domain" / "customer_order_totals.sql"
    sql.write_text(sql.read_text().replace("GROUP BY", "WHERE c.customer_id <> 'c2'\nGROUP BY"))
    (state.worktree / "stitch.yaml").write_text("match_threshold: 0.8\n")
    prod_before = _files(lake / "prod")  # after create, which wrote the audit log there
    _materialize({**prod_env, **state.environment()}, SHOP_TABLES)

    # Production is untouched; the sandbox wrote under its prefix only, read no landing of its own.
    assert _files(lake / "prod") == prod_before
    assert (lake / "branches" / "trial" / "domain" / "customer_order_totals" / "_delta_log").is_dir()
    assert not (lake / "branches" / "trial" / "landing").exists()
    assert {p.name for p in lake.iterdir()} == {"prod", "branches"}

    diff = as_user(prod_env, "olga").diff("trial", spark=spark)
    assert "+WHERE c.customer_id <> 'c2'" in diff.config_diff
    assert "+match_threshold: 0.8" in diff.config_diff
    totals = diff.data.table("domain/customer_order_totals")
    assert (totals.production_rows, totals.sandbox_rows) == (2, 1)
    assert (totals.key, totals.added_keys, totals.removed_keys) == (("customer_id",), 0, 1)
    assert totals.removed_sample == ["c2"]
    customers = diff.data.table("domain/shop_customers")
    assert not customers.changed and customers.key == ("customer_id",)
    assert diff.data.only_in_production == diff.data.only_in_sandbox == []
    assert "* domain/customer_order_totals: rows 2 -> 1" in render(diff.data)

    as_user(prod_env, "alice").promote("trial", "Drop c2 from order totals; looser Stitch")
    tenant = Path(prod_env["CDP_TENANT_DIR"])
    assert load_tenant(tenant).stitch.match_threshold == 0.8
    sandbox_before = _files(lake / "branches" / "trial")
    _materialize(prod_env, tables={"customer_order_totals"})
    rows = spark.read.format("delta").load(
        str(lake / "prod" / "domain" / "customer_order_totals")).collect()
    assert [r["customer_id"] for r in rows] == ["c1"]
    assert _files(lake / "branches" / "trial") == sandbox_before


def test_data_diff_reports_identity_changes_and_segment_sizes(tmp_path: Path, spark) -> None:
    prod = Deployment(lake_root=str(tmp_path / "lake"))
    box = Deployment(lake_root=str(tmp_path / "lake"), sandbox="trial")

    def write(deployment: Deployment, table: str, rows: list[tuple], columns: list[str]) -> None:
        spark.createDataFrame(rows, columns).write.format("delta").save(
            f"{deployment.root}/{table}")

    cols = ["record_id", "amperity_id"]
    write(prod, "stitch/unified_coalesced", [("s:1", "A"), ("s:2", "A"), ("s:3", "B")], cols)
    write(box, "stitch/unified_coalesced",
          [("s:1", "A"), ("s:2", "C"), ("s:3", "B"), ("s:4", "D")], cols)
    seg = ["segment", "amperity_id"]
    write(prod, "activation/segment_members", [("vip", "A"), ("vip", "B"), ("lapsed", "C")], seg)
    write(box, "activation/segment_members", [("vip", "A"), ("new", "D")], seg)
    write(box, "c360/main/customer_360", [("A", "x")], ["amperity_id", "name"])

    diff = diff_data(spark, prod, box)
    coalesced = diff.table("stitch/unified_coalesced")
    assert (coalesced.key, coalesced.added_keys, coalesced.removed_keys) == (("record_id",), 1, 0)
    assert coalesced.added_sample == ["s:4"]
    assert coalesced.changed_amperity_ids == 1
    assert (coalesced.production_customers, coalesced.sandbox_customers) == (2, 4)
    segments = diff.table("activation/segment_members")
    assert segments.segments == {"lapsed": (1, 0), "new": (0, 1), "vip": (2, 1)}
    assert diff.only_in_sandbox == ["c360/main/customer_360"] and diff.only_in_production == []
    text = render(diff)
    assert "amperity_id changed for 1 record(s); customers 2 -> 4" in text
    assert "segment vip: 2 -> 1" in text
