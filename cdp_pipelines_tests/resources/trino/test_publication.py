"""The publication asset against the session Trino: every Customer 360 and Stitch table that
exists is registered in its database's schema (sandbox-prefixed) and reads back its rows;
PII columns (config marks, defaults from tags) are reported for masking."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, materialize

from cdp_pipelines.customer360.assets import build_publication_asset
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.resources.trino import TrinoResource
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.conftest import TINY_TENANT

TABLES = {"c360": ["merged_customers", "customer_360"], "analytics": ["value_by_state"]}


def test_every_existing_table_is_registered_and_readable(spark, trino_server, trino_lake):
    deployment = Deployment(lake_root=str(trino_lake / "publication"), sandbox="pub",
                            tenant_dir=TINY_TENANT)
    rows = {("c360", "c360", "merged_customers"): 3, ("c360", "c360", "customer_360"): 2,
            ("c360", "analytics", "value_by_state"): 4, ("stitch", "unified_coalesced"): 5}
    for location, n in rows.items():
        spark.range(n).selectExpr("cast(id AS string) AS amperity_id",
                                  "concat('p', id, '@example.com') AS email").write.format(
            "delta").mode("overwrite").save(deployment.path(*location))
    config = load_tenant(TINY_TENANT, env={"CDP_TEST_DROP": str(trino_lake)})
    publication = build_publication_asset(config, deployment, TABLES)
    # No server_home: the session server's access rules belong to the other Trino tests.
    trino = TrinoResource.for_server(trino_server, "admin")
    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"), deployment)
    result = materialize([publication], resources={"lake": lake, "trino": trino},
                         instance=DagsterInstance.ephemeral())
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == AssetKey(["c360", "trino_publication"])]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["schemas"] == {"pub_c360": ["merged_customers", "customer_360"],
                               "pub_analytics": ["value_by_state"],
                               "pub_stitch": ["unified_coalesced"]}
    assert meta["tables"] == 4
    # email is PII by its tag in the tiny tenant: masked in all four tables.
    assert meta["pii_columns_masked"] == 4
    for location, n in rows.items():
        schema = f"pub_{location[1] if location[0] == 'c360' else 'stitch'}"
        assert trino.execute(f"SELECT count(*) FROM delta.{schema}.{location[-1]}") == [(n,)]


def test_published_masks_are_the_columns_previews_mask(spark, trino_server, trino_lake):
    """One PII rule: each table's preview masks exactly the columns Trino masks for
    analysts, including a tenant feed field that is PII only by its config."""
    deployment = Deployment(lake_root=str(trino_lake / "masks"), sandbox="masks",
                            tenant_dir=TINY_TENANT)
    config = load_tenant(TINY_TENANT, env={"CDP_TEST_DROP": str(trino_lake)})
    assert "first_name" in config.pii_fields
    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"), deployment,
                                    config.pii_fields)
    frames = {
        ("c360", "c360", "customer_360"): "'a1' AS amperity_id, 'Ann' AS given_name, "
        "'ann@x.com' AS email, 'Seattle' AS city, 'WA' AS state, 'Ann' AS first_name, "
        "'Ann' AS given_name_display, '1 Elm St.' AS address_display, "
        "'Seattle' AS city_display",
        ("stitch", "unified_coalesced"): "'a1' AS amperity_id, '98101' AS postal, "
        "'+12065550100' AS phone, 'pos' AS source",
        ("stitch", "stitch_blocklist_values"): "'email' AS column, 'info@x.com' AS value",
    }
    previews = {}
    for location, columns in frames.items():
        result = lake.write_table(spark.sql(f"SELECT {columns}"), *location)
        meta = {k: v.value for k, v in result.metadata.items()}
        schema = f"masks_{location[1] if location[0] == 'c360' else 'stitch'}"
        previews[f"{schema}.{location[-1]}"] = meta["pii_columns"]
        for value in ("ann@x.com", "+12065550100", "98101", "info@x.com", "1 Elm St."):
            assert value not in meta["preview"]
    # Names and addresses as written are PII like their match keys; a city is not.
    assert previews["masks_c360.customer_360"] == ["given_name", "email", "first_name",
                                                   "given_name_display", "address_display"]

    publication = build_publication_asset(config, deployment, {"c360": ["customer_360"]})
    trino = TrinoResource.for_server(trino_server, "admin")
    result = materialize([publication], resources={"lake": lake, "trino": trino},
                         instance=DagsterInstance.ephemeral())
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == AssetKey(["c360", "trino_publication"])]
    assert event.materialization.metadata["pii_masks"].value == previews
