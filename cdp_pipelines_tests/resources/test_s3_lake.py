"""Issue 19, item 1: the lake on S3. The tiny tenant's couriers, domain tables, Stitch and
Customer 360 run through Dagster with ``CDP_LAKE_ROOT=s3a://...`` against moto in server
mode, and a sandbox on the same bucket writes only under ``branches/<name>/``. What landed
where is read back with boto3, a client this project did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.deployment import DeploymentError, get_deployment
from cdp_pipelines.governance.privacy.tables import delta_tables
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.lake_files import ObjectPath, lake_path
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.stitch.matching import load_model, save_model
from cdp_pipelines_tests.conftest import TINY_TENANT
from cdp_pipelines_tests.stitch.test_assets import CUSTOMERS, MEMBERS

BUCKET = "cdp-lake"
PREFIX = "acme"
LAKE = f"s3a://{BUCKET}/{PREFIX}"
# Test keys for moto: the test asserts they appear in no asset's metadata.
KEY_ID, SECRET = "lake-test-key-id", "lake-test-secret-value"
ORDERS = ('{"order_id": "o1", "customer_id": "s1", "order_date": "2026-11-01", "total": 10}\n'
          '{"order_id": "o2", "customer_id": "s3", "order_date": "2026-11-02", "total": 25}\n')
STITCH = ("unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
          "unified_coalesced", "unified_changes_clusters", "unified_changes_pks",
          "unified_transactions")
C360 = ("merged_customers", "transaction_attributes", "customer_attributes", "customer_360")


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    """A bucket of its own on the session's moto server, and the standard AWS variables
    pointing at it (for this module only)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    client.create_bucket(Bucket=BUCKET)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
        mp.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        mp.setenv("AWS_REGION", "us-east-1")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        yield client


def _objects(client) -> dict[str, str]:
    """Every object of the lake bucket: key -> ETag."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return out


def _env(drop: Path, **more: str) -> dict[str, str]:
    return {**os.environ, "CDP_LAKE_ROOT": LAKE, "CDP_TENANT_DIR": str(TINY_TENANT),
            "CDP_TEST_DROP": str(drop), **more}


@pytest.fixture(scope="module")
def production(s3, spark, tmp_path_factory, tiny_stitch):
    drop = tmp_path_factory.mktemp("s3-drop")
    # The lake holds the local run's model (written by the model store, through the bucket's
    # write-then-rename), as a lake does after its first run: training is
    # stitch/test_assets.py's subject, not this test's.
    version = save_model(load_model(tiny_stitch.model).settings,
                         f"{LAKE}/prod/stitch/models/current.json")
    for name, text in (("shop/customers_20261101.csv", CUSTOMERS),
                       ("shop/orders_20261101.jsonl", ORDERS), ("club/members_1.psv", MEMBERS)):
        (drop / name).parent.mkdir(parents=True, exist_ok=True)
        (drop / name).write_text(text)
    defs = build_definitions(_env(drop))
    selection = AssetSelection.assets(
        ["landing", "shop", "shop_customers"], ["landing", "shop", "shop_orders"],
        ["landing", "club", "club_members"], ["domain", "shop_customers"],
        ["domain", "shop_orders"], ["domain", "club_members"],
        ["domain", "customer_order_totals"], *[["stitch", n] for n in STITCH],
        *[["c360", "c360", n] for n in C360])
    instance = DagsterInstance.ephemeral()
    result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                         instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    log = [e.user_message for e in instance.all_logs(result.run_id)]
    assert f"stitch: using stored model version {version}" in log
    return drop, result


def test_the_tiny_tenant_runs_on_an_s3_lake(s3, spark, production) -> None:
    drop, result = production
    keys = _objects(s3)
    prod = f"{PREFIX}/prod"
    # Couriers landed the files unchanged, as objects under the layer's prefix.
    landed = f"{prod}/landing/shop/shop_customers/shop/customers_20261101.csv"
    assert s3.get_object(Bucket=BUCKET, Key=landed)["Body"].read().decode() == CUSTOMERS
    assert f"{prod}/landing/club/club_members/club/members_1.psv" in keys
    # Every layer's tables are Delta tables on the bucket; the Splink model is an object.
    for table in ("domain/shop_customers", "domain/shop_orders", "domain/club_members",
                  "domain/customer_order_totals", "_system/ingest_log",
                  *[f"stitch/{n}" for n in STITCH], *[f"c360/c360/{n}" for n in C360]):
        assert f"{prod}/{table}/_delta_log/00000000000000000000.json" in keys, table
    assert f"{prod}/stitch/models/current.json" in keys
    # Nothing of the deployment outside its prefix, no partial upload left behind, and no
    # local directory named after the URI (what Path("s3a://...") would have made).
    assert all(k.startswith(f"{prod}/") for k in keys)
    assert not any(k.rsplit("/", 1)[-1].endswith(".partial") for k in keys)
    assert not Path("s3a:").exists()
    # The results are the local run's (cdp_pipelines_tests/stitch/test_assets.py).
    coalesced = spark.read.format("delta").load(f"{LAKE}/prod/stitch/unified_coalesced")
    clusters: dict[str, set[str]] = {}
    for row in coalesced.collect():
        clusters.setdefault(row["amperity_id"], set()).add(row["pk"])
    assert sorted(sorted(c) for c in clusters.values()) == sorted([
        ["m1", "s1", "s2"], ["m2", "s3"], ["m3"], ["s4"], ["s5"], ["s6"], ["s7"]])
    c360 = spark.read.format("delta").load(f"{LAKE}/prod/c360/c360/customer_360")
    assert c360.count() == 7
    # The keys never reach what the UI shows.
    for event in result.get_asset_materialization_events():
        text = repr(event.materialization.metadata)
        assert SECRET not in text and KEY_ID not in text
    # The landed file reads back through the lake's own file layer too.
    path = lake_path(f"{LAKE}/prod/landing/shop/shop_customers/shop/customers_20261101.csv")
    assert isinstance(path, ObjectPath) and path.read_text() == CUSTOMERS
    # Privacy finds every table on the bucket as it does on a local lake.
    lake = DeltaLake.for_deployment(SparkResource(), get_deployment(_env(drop)))
    assert set(delta_tables(lake)) >= {("domain", "shop_customers"),
                                       ("stitch", "unified_coalesced"),
                                       ("c360", "c360", "customer_360")}


def test_a_sandbox_on_the_bucket_writes_only_under_its_branch(s3, spark, production) -> None:
    drop, _ = production
    before = _objects(s3)
    env = _env(drop, CDP_SANDBOX="trial")
    defs = build_definitions(env)
    selection = AssetSelection.assets(
        ["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
        ["domain", "shop_customers"], ["domain", "club_members"],
        ["stitch", "unified_preprocessed_raw"])
    result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    after = _objects(s3)
    new = sorted(set(after) - set(before))
    # It read production's landed files and wrote its own tables, only under its branch.
    assert f"{PREFIX}/branches/trial/domain/shop_customers/_delta_log/00000000000000000000.json" \
        in new
    assert f"{PREFIX}/branches/trial/stitch/unified_preprocessed_raw/_delta_log/" \
           "00000000000000000000.json" in new
    assert all(k.startswith(f"{PREFIX}/branches/trial/") for k in new), new
    assert {k: after[k] for k in before} == before  # production untouched
    sandbox = get_deployment(env)
    rows = spark.read.format("delta").load(sandbox.path("domain", "shop_customers")).count()
    assert rows == 7
    # A write anywhere else is refused, whatever way the path is spelled.
    for target in (f"{LAKE}/prod/domain/shop_customers",
                   f"{LAKE}/branches/trial/../../prod/domain/shop_customers",
                   f"{LAKE}/branches/trial-2/domain/x", f"s3a://{BUCKET}/elsewhere"):
        with pytest.raises(DeploymentError, match=r"deployment 'trial' may only write under "
                                                  rf"s3a://{BUCKET}/{PREFIX}/branches/trial,"):
            sandbox.check_writable(target)
    lake = defs.resources["lake"]
    with pytest.raises(DeploymentError, match="may not contain '..'"):
        lake.path_for_write("domain", "../../prod/domain/shop_customers")


@pytest.fixture(scope="module")
def s3_trino(s3, production, tmp_path_factory):
    """A second embedded Trino (the session's reads a local lake) on the S3 lake."""
    from cdp_pipelines.resources import trino_auth, trino_server
    from cdp_pipelines_tests.conftest import free_port

    home = tmp_path_factory.mktemp("s3-trino")
    trino_auth.ensure_secrets(home)
    server = trino_server.start(home, port=free_port(), lake_root=LAKE)
    yield server
    assert trino_server.stop(home)


def test_analysts_query_the_s3_lake_through_trino_with_masks(s3, production, s3_trino) -> None:
    from cdp_pipelines.resources.trino import TrinoResource

    drop, _ = production
    catalog = (s3_trino.home / "etc" / "catalog" / "delta.properties").read_text()
    assert "fs.native-s3.enabled=true" in catalog and "s3.path-style-access=true" in catalog
    assert f"hive.metastore.catalog.dir=s3://{BUCKET}/{PREFIX}/_trino/metastore" in catalog
    # The catalog file names the variables; the keys stay in the server's environment.
    assert "s3.aws-secret-key=${ENV:AWS_SECRET_ACCESS_KEY}" in catalog
    assert SECRET not in catalog and KEY_ID not in catalog
    env = _env(drop, CDP_TRINO_HOME=str(s3_trino.home), CDP_TRINO_PORT=str(s3_trino.port))
    defs = build_definitions(env)
    result = materialize(list(defs.assets), resources=defs.resources,
                         selection=AssetSelection.assets(["c360", "trino_publication"]),
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    # Trino keeps its metastore on the bucket, beside the deployments.
    assert any(k.startswith(f"{PREFIX}/_trino/metastore/c360/") for k in _objects(s3))
    admin = TrinoResource.for_server(s3_trino, "admin")
    analyst = TrinoResource.for_server(s3_trino, "analyst")
    sql = "SELECT amperity_id, email FROM delta.c360.customer_360 ORDER BY amperity_id"
    raw, masked = admin.execute(sql), analyst.execute(sql)
    assert len(raw) == len(masked) == 7
    emails = {e for _, e in raw}
    assert "alice.j@mail.com" in emails
    # Same rows, every email masked for the analyst.
    assert [i for i, _ in masked] == [i for i, _ in raw]
    assert not emails & {e for _, e in masked}
    assert {e for _, e in masked} <= {"***", None}
