"""Factories: couriers, domain tables and custom domain tables as Dagster assets.

- ``landing/<source>/<courier>``: lands the courier's new files unchanged.
- ``domain/<feed>``: types the landed files into a Delta table, upserted by key; bad rows
  to ``domain/_quarantine``; two Great Expectations checks (keys: blocking ERROR,
  values: WARN).
- ``domain/<custom table>``: a tenant Spark SQL file over the tables it names.
"""


import re
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
)
from pydantic import BaseModel

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.governance import expectations as gx_suites
from cdp_pipelines.keys import (
    DOMAIN_GROUP,
    SOURCES_GROUP,
    courier_key,
    domain_key,
    wait_minutes_for,
)
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import land, landed_files
from cdp_pipelines.sources.domain import QUARANTINE_TABLE, load_files
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.privacy import PrivacySpec
from cdp_pipelines.tenant.sources import (
    CourierSpec,
    CustomDomainTable,
    FeedSpec,
    SourceSpec,
)


def _written(options: BaseModel) -> dict:
    """A courier's options as its tenant file wrote them, without ``type``."""
    return options.model_dump(exclude={"type"}, exclude_unset=True, by_alias=True)


def build_courier_asset(source: SourceSpec, courier: CourierSpec,
                        deployment: Deployment) -> AssetsDefinition:
    @table_asset(
        key=courier_key(source.name, courier.name),
        group_name=SOURCES_GROUP,
        description=f"Courier {courier.name} ({courier.type}): lands `{courier.pattern}` "
                    f"from {courier.root or _written(courier.options)} for source {source.name}.",
        kinds={courier.type, "files"},
        tags={"cdp/source": source.name},
    )
    def _courier(context: AssetExecutionContext) -> MaterializeResult:
        if deployment.is_sandbox:
            # A sandbox replays production's landed files and never fetches.
            files = landed_files(courier, lake_path(deployment.landing_read_path(
                source.name, courier.name)))
            return MaterializeResult(metadata={
                "files_available": MetadataValue.int(len(files)),
                "note": MetadataValue.text("sandbox: reads production's landing read-only"),
            })
        landing = lake_path(deployment.check_writable(
            deployment.path("landing", source.name, courier.name)))
        files = land(courier, landing,
                     wait_minutes=wait_minutes_for(context.run.tags, courier.name))
        new = [f.relpath for f in files if f.newly_landed]
        if not files:
            message = (f"courier {courier.name}: no file matches {courier.pattern!r} in "
                       f"{courier.root or courier.type}")
            if courier.when_missing == "fail":
                raise Failure(message)
            if courier.when_missing == "warn":
                context.log.warning(message)
        context.log.info(f"{courier.name}: {len(new)} new file(s), {len(files)} matching")
        return MaterializeResult(metadata={
            "files_matching": MetadataValue.int(len(files)),
            "files_landed": MetadataValue.int(len(new)),
            "bytes_landed": MetadataValue.int(sum(f.size for f in files if f.newly_landed)),
            "new_files": MetadataValue.json(new[:50]),
            "landing_path": MetadataValue.path(str(landing)),
        })

    return _courier


def build_domain_asset(source: SourceSpec, feed: FeedSpec,
                       deployment: Deployment, privacy: PrivacySpec | None = None,
                       ) -> AssetsDefinition:
    courier = next(c for c in source.couriers if c.name == feed.courier)
    key = domain_key(feed.name)

    @table_asset(
        key=key,
        deps=[courier_key(source.name, courier.name)],
        group_name=DOMAIN_GROUP,
        description=feed.description or f"Domain table {feed.name} from source {source.name}, "
                                        f"upserted by {', '.join(feed.primary_key)}.",
        kinds={"spark", "delta"},
        tags={"cdp/source": source.name, **({"cdp/stitch": "true"} if feed.stitch else {})},
        check_specs=[
            AssetCheckSpec("files_readable", asset=key,
                           blocking=feed.unreadable_files == "fail",
                           description="Every new file could be read; an unreadable one "
                                       "(empty, truncated, wrong layout) loaded nothing."),
            AssetCheckSpec("keys_valid", asset=key, blocking=True,
                           description="Primary key present and unique (Great Expectations)."),
            AssetCheckSpec("values_valid", asset=key,
                           description="Declared columns and value patterns (Great Expectations)."),
        ],
    )
    def _domain(context: AssetExecutionContext, lake: DeltaLake):
        files = landed_files(courier, lake_path(deployment.landing_read_path(source.name, courier.name)))
        result = load_files(lake, feed, courier.format, files, context.run.run_id, privacy)
        for name, reason in result.unreadable.items():
            context.log.error(f"{feed.name}: {name} quarantined whole, nothing loaded: {reason}")
        for name, first in result.duplicates.items():
            context.log.info(f"{feed.name}: {name} is a duplicate delivery of {first}; not read")
        context.log.info(f"{feed.name}: {len(result.files)} file(s), {result.rows_read:,} "
                         f"row(s) read, {result.rows_quarantined:,} quarantined "
                         f"(seconds: {result.timings})")
        if not lake.exists("domain", feed.name):
            unreadable = f" ({len(result.unreadable)} unreadable)" if result.unreadable else ""
            raise Failure(f"domain table {feed.name}: no data yet; courier {courier.name} has "
                          f"landed no readable file{unreadable} matching {courier.pattern!r}")
        metrics = result.stats.metrics if result.stats else {}
        metadata = {
            "files_loaded": MetadataValue.int(len(result.files)),
            "rows_read": MetadataValue.int(result.rows_read),
            "rows_quarantined": MetadataValue.int(result.rows_quarantined),
            "rows_inserted": MetadataValue.int(int(metrics.get("numTargetRowsInserted", 0))),
            "rows_updated": MetadataValue.int(int(metrics.get("numTargetRowsUpdated", 0))),
            "files_unreadable": MetadataValue.int(len(result.unreadable)),
            # People deleted by privacy requests: counted, never shown.
            "rows_suppressed": MetadataValue.int(result.rows_suppressed),
            "rows_pii_nulled": MetadataValue.int(result.rows_pii_nulled),
            "duplicate_deliveries": MetadataValue.int(len(result.duplicates)),
            "pii_columns": MetadataValue.json(feed.pii_columns),
        }
        if result.rows_quarantined:
            context.log.warning(f"{feed.name}: {result.rows_quarantined} row(s) quarantined "
                                f"in domain/{QUARANTINE_TABLE}")
        df = lake.read("domain", feed.name)
        if result.stats:
            yield lake.table_result(result.stats, "domain", feed.name, masked=feed.pii_columns,
                                    metadata=metadata)
        else:
            metadata["dagster/row_count"] = MetadataValue.int(df.count())
            yield MaterializeResult(metadata=metadata)
        yield AssetCheckResult(
            check_name="files_readable", passed=not result.unreadable,
            severity=(AssetCheckSeverity.ERROR if feed.unreadable_files == "fail"
                      else AssetCheckSeverity.WARN),
            metadata={"unreadable_files": MetadataValue.json(result.unreadable)},
            description=(f"{len(result.unreadable)} file(s) quarantined whole in "
                         f"domain/{QUARANTINE_TABLE}; deliver them again complete"
                         if result.unreadable else None))
        yield from _feed_checks(df, feed, key)

    return _domain


def _feed_checks(df, feed: FeedSpec, key: AssetKey):
    # Each expectation is a Spark query: read the table once for all of them.
    df = df.cache()
    try:
        yield from _run_feed_suites(df, feed, key)
    finally:
        df.unpersist()


def _run_feed_suites(df, feed: FeedSpec, key: AssetKey):
    for check_name, suite, severity in (
        ("keys_valid", gx_suites.key_expectations(feed), AssetCheckSeverity.ERROR),
        ("values_valid", gx_suites.value_expectations(feed), AssetCheckSeverity.WARN),
    ):
        outcomes = gx_suites.validate(df, f"{feed.name}_{check_name}", suite)
        failed = [o for o in outcomes if not o.success]
        yield AssetCheckResult(
            asset_key=key,
            check_name=check_name,
            passed=not failed,
            severity=severity,
            metadata={
                "expectations": MetadataValue.int(len(outcomes)),
                "failed": MetadataValue.json(
                    [{"expectation": o.expectation, "column": o.column,
                      "unexpected_count": o.unexpected_count} for o in failed]),
            },
        )


_IDENT = re.compile(r"\b([a-z][a-z0-9_]*)\b")


def referenced_tables(sql: str, known: set[str]) -> list[str]:
    """Table names from ``known`` that a SQL text mentions (comments ignored)."""
    code = re.sub(r"--[^\n]*", "", sql)
    return sorted({m for m in _IDENT.findall(code.lower()) if m in known})


def register_views(lake: DeltaLake, names: list[str], layer: str = "domain") -> None:
    """Make tables readable from Spark SQL by name."""
    for name in names:
        if lake.exists(layer, name):
            lake.read(layer, name).createOrReplaceTempView(name)


def run_tenant_sql(lake: DeltaLake, sql: str, where: Path):
    """Run a tenant's SQL; an error names the file and line."""
    from pyspark.errors import PySparkException

    try:
        # Leading comment lines are kept so Spark's line numbers match the file's.
        return lake.session.sql(sql.rstrip().rstrip(";"))
    except PySparkException as exc:
        message = str(exc).strip().splitlines()[0]
        line = re.search(r"line (\d+)", str(exc))
        at = f"line {line.group(1)}" if line else "(line unknown)"
        raise Failure(f"{where}: {at}: {message}") from None


def build_custom_domain_asset(table: CustomDomainTable, known: set[str],
                              ) -> AssetsDefinition:
    refs = [r for r in referenced_tables(table.sql, known) if r != table.name]

    @table_asset(
        key=domain_key(table.name),
        deps=[domain_key(r) for r in refs],
        group_name=DOMAIN_GROUP,
        description=f"Custom domain table from {table.path.name} (Spark SQL over {', '.join(refs)}).",
        kinds={"spark", "delta", "sql"},
    )
    def _custom(context: AssetExecutionContext, lake: DeltaLake) -> MaterializeResult:
        register_views(lake, refs)
        df = run_tenant_sql(lake, table.sql, table.path)
        # Its own `-- tags:` mark PII too, beside the names the lake knows.
        pii = table.pii_columns | set(lake.pii_columns(df.columns, table.name))
        return lake.write_table(df, "domain", table.name,
                                masked=[c for c in df.columns if c in pii])

    return _custom


def build_source_assets(config: Tenant, deployment: Deployment) -> list[AssetsDefinition]:
    assets = []
    for source in config.sources:
        assets += [build_courier_asset(source, c, deployment) for c in source.couriers]
        assets += [build_domain_asset(source, f, deployment, config.privacy)
                   for f in source.feeds]
    known = {f.name for _, f in config.feeds} | {t.name for t in config.custom_domain_tables}
    assets += [build_custom_domain_asset(t, known)
               for t in config.custom_domain_tables]
    return assets
