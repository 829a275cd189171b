"""Issue 19, item 1 (Azure): the lake in an Azure storage account, against Azurite. A
courier lands a file and the domain table is built through Dagster with
``CDP_LAKE_ROOT=abfs://container@account.dfs.core.windows.net/...``: the landed file goes
through the lake's file layer (pyarrow's Azure file system), the Delta table through
hadoop-azure's ABFS driver (a flat-namespace account over the Blob API, as Azurite serves
it). Read back with Azure's own SDK. Hadoop 3.5 no longer serves wasb(s)://."""

from __future__ import annotations

import os

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.resources.lake_storage import connector_schemes
from cdp_pipelines_tests import servers
from cdp_pipelines_tests.conftest import TINY_TENANT
from cdp_pipelines_tests.stitch.test_assets import CUSTOMERS

CONTAINER = "lake"
LAKE = f"abfs://{CONTAINER}@{servers.AZURITE_ACCOUNT}.dfs.core.windows.net/acme"


def test_a_courier_and_a_domain_table_on_an_azure_lake(azurite, spark, tmp_path) -> None:
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    blobs.create_container(CONTAINER)
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True)
    (drop / "shop" / "customers_20261101.csv").write_text(CUSTOMERS)
    env = {**os.environ, "CDP_LAKE_ROOT": LAKE, "CDP_TENANT_DIR": str(TINY_TENANT),
           "CDP_TEST_DROP": str(drop)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZURE_STORAGE_KEY", servers.AZURITE_KEY)
        # http://127.0.0.1:PORT: the account is the endpoint's path, not its host.
        mp.setenv("CDP_AZURE_BLOB_ENDPOINT", azurite.blob_endpoint.rsplit("/", 1)[0])
        defs = build_definitions(env)
        result = materialize(
            list(defs.assets), resources=defs.resources,
            selection=AssetSelection.assets(["landing", "shop", "shop_customers"],
                                            ["domain", "shop_customers"]),
            instance=DagsterInstance.ephemeral(), raise_on_error=False)
        assert result.success, [e.message for e in result.get_step_failure_events()]
        rows = spark.read.format("delta").load(f"{LAKE}/prod/domain/shop_customers").count()
        # Closed now, while Azurite runs: at the JVM's exit its finalizer would wait 30 s
        # for a server that is gone.
        jvm = spark.sparkContext._jvm
        jvm.org.apache.hadoop.fs.Path(LAKE).getFileSystem(
            spark.sparkContext._jsc.hadoopConfiguration()).close()
    assert rows == 7
    container = blobs.get_container_client(CONTAINER)
    names = {b.name for b in container.list_blobs()}
    landed = "acme/prod/landing/shop/shop_customers/shop/customers_20261101.csv"
    assert container.download_blob(landed).readall().decode() == CUSTOMERS
    assert "acme/prod/domain/shop_customers/_delta_log/00000000000000000000.json" in names
    # Nothing outside the deployment's prefix but the ABFS driver's folder markers of it.
    assert {n for n in names if not n.startswith("acme/prod/")} <= {"acme", "acme/prod"}, names


def test_wasb_lakes_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no longer reads wasbs://; name the same container "
                                         r"as abfss://container@account"):
        connector_schemes(["wasbs://lake@acct.blob.core.windows.net/acme"])
