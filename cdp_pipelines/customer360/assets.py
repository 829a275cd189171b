"""Customer 360 tables as assets (group ``c360``) and their publication to Trino.

Standard tables go to the ``c360`` database; each ``databases/<db>/*.sql`` file of the
tenant is a custom table of database ``<db>`` that may read every domain, Stitch and
Customer 360 table by name. ``trino_publication`` registers every Customer 360 and
Stitch output table in Trino (one schema per database) and refreshes the access rules
that mask PII for analysts.
"""

import time

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from cdp_pipelines.customer360.computed_traits import TABLE as TRAITS_TABLE
from cdp_pipelines.customer360.computed_traits import build_computed_traits_assets
from cdp_pipelines.customer360.households import (
    HOUSEHOLDS_TABLE,
    MEMBERS_TABLE,
    build_household_assets,
    household_columns,
)
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import (
    C360_GROUP,
    PRIVACY_COMPLIANCE_KEY,
    STANDARD_DB,
    TRINO_PUBLICATION_KEY,
    c360_key,
    domain_key,
    stitch_key,
)
from cdp_pipelines.observability import stage
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.trino import TrinoResource
from cdp_pipelines.sources.assets import referenced_tables
from cdp_pipelines.tenant.model import Tenant, tenant_today

CONSENT_TAGS = {"email-opt-in": "email_opt_in", "sms-opt-in": "sms_opt_in",
                "opt-in-date": "opt_in_date", "is-test": "is_test", "is-employee": "is_employee"}
STITCH_PUBLISHED = ("unified_coalesced", "unified_scores", "unified_transactions",
                    "unified_itemized_transactions", "unified_changes_clusters",
                    "unified_changes_pks", "stitch_blocklist_values")


def _consent_frame(lake: DeltaLake, config: Tenant):
    """Consent and flag statements of every feed that has them, keyed to amperity_id."""
    from pyspark.sql import functions as F

    ids = lake.read("stitch", "unified_coalesced").select("source", "pk", "amperity_id")
    frames = []
    for _, feed in config.feeds:
        tagged = {CONSENT_TAGS[t]: f.name for f in feed.fields for t in f.tags if t in CONSENT_TAGS}
        if not tagged or not feed.stitch or not lake.exists("domain", feed.name):
            continue
        from cdp_pipelines.stitch.inputs import pk_column

        df = lake.read("domain", feed.name)
        frames.append(df.select(
            F.lit(feed.name).alias("source"), pk_column(feed.primary_key).alias("pk"),
            *[(F.col(tagged[c]) if c in tagged else F.lit(None)).cast(
                "date" if c == "opt_in_date" else "boolean").alias(c)
              for c in CONSENT_TAGS.values()],
            F.col("_updated")))
    schema = ("source string, pk string, email_opt_in boolean, sms_opt_in boolean, "
              "opt_in_date date, is_test boolean, is_employee boolean, _updated timestamp")
    out = lake.session.createDataFrame([], schema)
    for frame in frames:
        out = out.unionByName(frame)
    return out.join(ids, ["source", "pk"], "inner")


def _write(context: AssetExecutionContext, lake: DeltaLake, df, name: str,
           database: str = STANDARD_DB) -> MaterializeResult:
    """Write a Customer 360 table, logging its rows and seconds (the Delta commit counts)."""
    with stage(context.log, f"c360: {database}.{name}") as s:
        stats = lake.overwrite(df, "c360", database, name)
        s.count(stats.rows, "rows")
    return lake.table_result(stats, "c360", database, name)


def build_c360_assets(config: Tenant, deployment: Deployment) -> list:
    from cdp_pipelines.stitch.transactions import transaction_tables

    has_transactions, has_items = transaction_tables(config)
    consent_feeds = [f.name for _, f in config.feeds if f.stitch and any(
        t in CONSENT_TAGS for field in f.fields for t in field.tags)]
    priorities = {s.name: s.priority for s in config.sources}
    # Privacy requests are applied first: if that fails, nothing below is built or published.
    privacy = [PRIVACY_COMPLIANCE_KEY] if config.privacy is not None else []

    @table_asset(key=c360_key(STANDARD_DB, "merged_customers"), group_name=C360_GROUP,
                 deps=[stitch_key("unified_coalesced"), *privacy], kinds={"spark", "delta"},
                 description="One row per customer; each field group from the winning record "
                             "(source priority, completeness, recency), with the winner named.")
    def merged_customers(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.customer360.merged_customers import (
            merged_customers as rollup,
        )

        return _write(context, lake,
                      rollup(lake.read("stitch", "unified_coalesced"), priorities),
                      "merged_customers")

    assets = [merged_customers]
    standard = ["merged_customers"]
    if has_transactions:
        @table_asset(key=c360_key(STANDARD_DB, "transaction_attributes"), group_name=C360_GROUP,
                     deps=[stitch_key("unified_transactions"), *privacy,
                           *([stitch_key("unified_itemized_transactions")] if has_items else [])],
                     kinds={"spark", "delta"},
                     description="Order history per customer: first/second/latest order, lifetime "
                                 "and L12M revenue and frequency, AOV, RFM deciles.")
        def transaction_attributes(context: AssetExecutionContext, lake: DeltaLake):
            from cdp_pipelines.customer360.attributes import (
                transaction_attributes as build,
            )

            items = lake.read("stitch", "unified_itemized_transactions") if has_items else None
            df = build(lake.read("stitch", "unified_transactions"), items, tenant_today(config))
            return _write(context, lake, df, "transaction_attributes")

        assets.append(transaction_attributes)
        standard.append("transaction_attributes")

    @table_asset(key=c360_key(STANDARD_DB, "customer_attributes"), group_name=C360_GROUP,
                 deps=[c360_key(STANDARD_DB, "merged_customers"), *privacy,
                       *[domain_key(name) for name in consent_feeds]],
                 kinds={"spark", "delta"},
                 description="Contactability, email/SMS opt-in (latest statement wins), "
                             "test and employee flags.")
    def customer_attributes(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.customer360.attributes import customer_attributes as build

        df = build(lake.read("c360", STANDARD_DB, "merged_customers"),
                   _consent_frame(lake, config))
        return _write(context, lake, df, "customer_attributes")

    assets.append(customer_attributes)
    standard.append("customer_attributes")

    households = config.stitch.households.enabled
    if households:
        assets += build_household_assets(config, has_transactions, privacy)
        standard += [MEMBERS_TABLE, HOUSEHOLDS_TABLE]

    @table_asset(key=c360_key(STANDARD_DB, "customer_360"), group_name=C360_GROUP,
                 deps=[c360_key(STANDARD_DB, t) for t in standard], kinds={"spark", "delta"},
                 description="The analyst-facing customer profile.")
    def customer_360(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.customer360.attributes import customer_360 as build

        merged = lake.read("c360", STANDARD_DB, "merged_customers")
        tx = (lake.read("c360", STANDARD_DB, "transaction_attributes") if has_transactions
              else merged.select("amperity_id").limit(0))
        hh = None
        if households:
            if lake.exists("c360", STANDARD_DB, MEMBERS_TABLE):
                hh = household_columns(lake, has_transactions)
            else:
                context.log.warning("c360: household_members is not built yet; customer_360 "
                                    "is written without its household columns")
        df = build(merged, tx, lake.read("c360", STANDARD_DB, "customer_attributes"), hh)
        return _write(context, lake, df, "customer_360")

    assets.append(customer_360)
    standard.append("customer_360")

    traits = build_computed_traits_assets(config)
    assets += traits
    standard += [TRAITS_TABLE] if traits else []

    tables = {STANDARD_DB: list(standard)}
    custom = build_custom_tables(config, deployment, standard, tables)
    assets += custom
    assets.append(build_publication_asset(config, deployment, tables))
    return assets


def _table_layers(config: Tenant, standard: list[str]) -> dict[str, tuple[str, ...]]:
    """Every table tenant SQL may read, by name, with its lake location."""
    names: dict[str, tuple[str, ...]] = {f.name: ("domain", f.name) for _, f in config.feeds}
    names.update({t.name: ("domain", t.name) for t in config.custom_domain_tables})
    names.update({t: ("stitch", t) for t in STITCH_PUBLISHED + ("unified_preprocessed_raw",)})
    names.update({t: ("c360", STANDARD_DB, t) for t in standard})
    return names


def _asset_key_of(location: tuple[str, ...]) -> AssetKey:
    if location[0] == "domain":
        return domain_key(location[1])
    if location[0] == "stitch":
        return stitch_key(location[1])
    return c360_key(location[1], location[2])


def build_custom_tables(config: Tenant, deployment: Deployment, standard: list[str],
                        tables: dict[str, list[str]]) -> list:
    known = _table_layers(config, standard)
    assets = []
    for table in config.database_tables:
        refs = [r for r in referenced_tables(table.sql, set(known)) if r != table.name]
        tables.setdefault(table.database, []).append(table.name)
        assets.append(_custom_table_asset(table.database, table.name, table.sql, table.path,
                                          refs, known))
    return assets


def _custom_table_asset(database: str, name: str, sql: str, path, refs: list[str],
                        known: dict[str, tuple[str, ...]]):
    @table_asset(key=c360_key(database, name), group_name=C360_GROUP,
                 deps=[_asset_key_of(known[r]) for r in refs], kinds={"spark", "delta", "sql"},
                 description=f"Custom table from databases/{database}/{path.name}.")
    def _custom(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.customer360.custom_sql import (
            CustomSqlError,
            run_custom_table,
        )

        views = {r: lake.read(*known[r]) for r in refs}
        try:
            df = run_custom_table(lake.session, sql, path, views)
        except CustomSqlError as exc:
            raise Failure(str(exc)) from None
        return _write(context, lake, df, name, database=database)

    return _custom


def build_publication_asset(config: Tenant, deployment: Deployment,
                            tables: dict[str, list[str]]):
    c360_deps = [c360_key(db, t) for db, names in tables.items() for t in names]
    stitch_deps = [stitch_key(t) for t in STITCH_PUBLISHED
                   if t not in ("unified_transactions", "unified_itemized_transactions")
                   or any("order-id" in f.tags for _, feed in config.feeds for f in feed.fields)]

    privacy = [PRIVACY_COMPLIANCE_KEY] if config.privacy is not None else []

    @table_asset(key=TRINO_PUBLICATION_KEY, group_name=C360_GROUP,
                 deps=c360_deps + stitch_deps + privacy, kinds={"trino"},
                 description="Registers every Customer 360 and Stitch table in Trino (one schema "
                             "per database) and refreshes the PII access rules.")
    def trino_publication(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        from cdp_pipelines.resources import trino_access

        prefix = deployment.schema_prefix
        published: dict[str, list[str]] = {}
        pii: dict[tuple[str, str], dict[str, str]] = {}
        targets = [(db, ("c360", db, t), t) for db, names in tables.items() for t in names]
        targets += [("stitch", ("stitch", t), t) for t in STITCH_PUBLISHED]
        present = [target for target in targets if lake.exists(*target[1])]
        for database, location, name in present:
            # The same rule that masks the table's preview (DeltaLake.pii_columns).
            types = dict(lake.read(*location).dtypes)
            masked = lake.pii_columns(types, name)
            if masked:
                pii[(f"{prefix}{database}", name)] = {c: _trino_type(types[c]) for c in masked}
        if trino.access_rules_path is not None:
            # Masks before tables: a new table, or a new PII column of one, becomes
            # readable only after the server has re-read rules that cover it.
            with stage(context.log, "c360: PII masks") as s:
                trino_access.write_rules_file(trino.access_rules_path, pii)
                time.sleep(2 * trino_access.RULES_REFRESH_SECONDS)
                s.count(sum(len(v) for v in pii.values()), "masked columns")
        with stage(context.log, "c360: publishing to Trino") as s:
            for database, location, name in present:
                schema = f"{prefix}{database}"
                try:
                    trino.register_delta_table(schema, name, lake.path(*location))
                except Exception as exc:  # noqa: BLE001 - Trino's errors say where and what
                    raise Failure(f"could not publish {schema}.{name}: {exc}") from None
                published.setdefault(schema, []).append(name)
            s.count(len(present), "tables")
            s.count(len(published), "schemas")
        return MaterializeResult(metadata={
            "schemas": MetadataValue.json(published),
            "tables": MetadataValue.int(sum(len(v) for v in published.values())),
            "pii_columns_masked": MetadataValue.int(sum(len(v) for v in pii.values())),
            "pii_masks": MetadataValue.json({f"{schema}.{table}": list(columns)
                                             for (schema, table), columns in pii.items()}),
            "trino": MetadataValue.text(f"{trino.host}:{trino.port} catalog {trino.catalog}"),
        })

    return trino_publication


def _trino_type(spark_type: str) -> str:
    mapping = {"string": "varchar", "int": "integer", "bigint": "bigint", "double": "double",
               "boolean": "boolean", "date": "date", "timestamp": "timestamp(3) with time zone"}
    if spark_type.startswith("decimal"):
        return spark_type
    return mapping.get(spark_type, "varchar")
