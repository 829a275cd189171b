"""Saved queries, segments and campaigns as Dagster assets (group ``activation``).

Every result is computed by Trino against the published Customer 360 tables, written by
Trino to a fresh staging Delta table, copied by Spark into its lake table in one Delta
commit (``activation/queries/<name>``, ``activation/segments/<name>``,
``activation/campaigns/<name>/recipients``) and registered in Trino schema ``activation``
as ``query_<name>``, ``segment_<name>`` and ``campaign_<name>_recipients``.

Why a staging table and a Spark copy rather than Trino's ``CREATE OR REPLACE TABLE``:
Trino's Delta connector refuses to write a second version of a table on a local file
system (``delta.enable-non-concurrent-writes`` is off, as it should be with more than one
writer), and a fetch into pandas loses Trino's column types. A brand-new table is the one
thing Trino writes everywhere, and Spark's overwrite keeps the previous version readable
when a run fails.

In a sandbox the schemas are ``<sandbox>_c360``, ``<sandbox>_activation``, ... as in
:mod:`cdp_pipelines.customer360.assets`.
"""


import io
import uuid
from datetime import date
from typing import Any, Literal

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from cdp_pipelines.activation.campaigns import bucket_sql
from cdp_pipelines.activation.queries import rewrite_schemas, trino_error_message
from cdp_pipelines.activation.segments import (
    SegmentError,
    compile_condition,
    read_columns,
)
from cdp_pipelines.customer360.households import MEMBERS_TABLE as HOUSEHOLD_MEMBERS
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import (
    ACTIVATION_GROUP,
    TRINO_PUBLICATION_KEY,
    campaign_key,
    query_key,
    segment_key,
)
from cdp_pipelines.observability import stage
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake, WriteStats
from cdp_pipelines.resources.trino import (
    TrinoResource,
    TrinoResourceError,
    quote_identifier,
    table_location,
)
from cdp_pipelines.tenant.audiences import (
    CAMPAIGNS_FILE,
    CONTROL,
    DEFAULT_SUB_AUDIENCE,
    PUBLISHED_SCHEMAS,
    SEGMENTS_FILE,
    CampaignSpec,
    SavedQuery,
    SegmentSpec,
)
from cdp_pipelines.tenant.model import Tenant, tenant_today

C360_SCHEMA = "c360"
ACTIVATION_SCHEMA = "activation"
# The first line of a staging CREATE TABLE ... AS; error lines are shifted back by it.
_HEADER_LINES = 1


# --------------------------------------------------------------------------- naming


def schema_name(deployment: Deployment | None, database: str) -> str:
    """Trino schema of ``database`` in this deployment (sandboxes prefix their schemas)."""
    return f"{deployment.schema_prefix}{database}" if deployment is not None else database


_TABLES = {"query": "query_{}", "segment": "segment_{}", "campaign": "campaign_{}_recipients"}
_LAKE_PARTS = {"query": ("queries", "{}"), "segment": ("segments", "{}"),
               "campaign": ("campaigns", "{}", "recipients")}


def trino_table(kind: str, name: str) -> str:
    return _TABLES[kind].format(name)


def lake_parts(kind: str, name: str) -> tuple[str, ...]:
    return tuple(p.format(name) for p in _LAKE_PARTS[kind])


def audience_rows_sql(
    kind: Literal["query", "segment", "campaign"], name: str, treatment: str | None = None,
    columns: tuple[str, ...] | list[str] = (), *, deployment: Deployment | None = None,
    catalog: str = "delta",
) -> str:
    """Trino SQL giving the rows to deliver for a saved query, segment or campaign.

    Members are joined to ``merged_customers`` for ``columns``. A query's rows are given
    as they are when ``columns`` is empty; otherwise the query must return amperity_id. A
    campaign gives its non-control recipients with ``sub_audience`` and ``treatment``,
    only those of ``treatment`` when one is named. Rows come ordered by amperity_id.
    """
    if kind not in _TABLES:
        raise ValueError(f"kind must be one of {sorted(_TABLES)}, got {kind!r}")
    if treatment is not None and kind != "campaign":
        raise ValueError(f"a treatment ({treatment!r}) only applies to campaigns, not a {kind}")
    quote_identifier(name, f"{kind} name")
    cols = [quote_identifier(c, "column") for c in columns]
    cat = quote_identifier(catalog, "catalog")
    source = (f"{cat}.{quote_identifier(schema_name(deployment, ACTIVATION_SCHEMA), 'schema')}"
              f".{quote_identifier(trino_table(kind, name), 'table')}")
    if kind == "query" and not cols:
        return f"SELECT * FROM {source}"
    merged = (f"{cat}.{quote_identifier(schema_name(deployment, C360_SCHEMA), 'schema')}"
              '."merged_customers"')
    select = ["m.amperity_id"]
    if kind == "campaign":
        select += ["m.sub_audience", "m.treatment"]
    select += [f"mc.{c}" for c in cols]
    sql = (f"SELECT {', '.join(select)} FROM {source} m "
           f"LEFT JOIN {merged} mc ON mc.amperity_id = m.amperity_id")
    if kind == "campaign":
        if treatment is None:
            sql += " WHERE NOT m.is_control"
        else:
            sql += f" WHERE m.treatment = '{quote_identifier(treatment, 'treatment')[1:-1]}'"
    return sql + " ORDER BY m.amperity_id"


# --------------------------------------------------------------------------- storing


class StoreError(RuntimeError):
    """Trino could not compute a result (the message names the tenant file)."""


def _delete_path(lake: DeltaLake, path: str) -> None:
    """Remove a directory tree through Hadoop's file system (local, s3a, abfss alike)."""
    spark = lake.session
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(hadoop_path, True)


def _qualified(trino: TrinoResource, deployment: Deployment | None, table: str) -> str:
    return (f"{quote_identifier(trino.catalog, 'catalog')}."
            f"{quote_identifier(schema_name(deployment, ACTIVATION_SCHEMA), 'schema')}."
            f"{quote_identifier(table, 'table')}")


def store_result(trino: TrinoResource, lake: DeltaLake, deployment: Deployment, sql: str,
                 params: list[Any], kind: str, name: str, file: str,
                 line_offset: int = 0) -> WriteStats:
    """Run ``sql`` in Trino and make its rows the lake table and Trino table of ``kind``/``name``.

    ``file`` and ``line_offset`` (lines of ``sql`` before the tenant's own text) place
    Trino's error messages in the tenant file. Spark only copies; counting and the
    version come from Trino, which answers in a fraction of Spark's time on small tables.
    """
    schema = schema_name(deployment, ACTIVATION_SCHEMA)
    token = uuid.uuid4().hex[:16]
    staging_path = lake.path_for_write("activation", "_staging", token)
    target = lake.path_for_write("activation", *lake_parts(kind, name))
    location = table_location(staging_path).replace("'", "''")
    trino.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(trino.catalog, 'catalog')}."
                  f"{quote_identifier(schema, 'schema')}")
    staged = _qualified(trino, deployment, f"_staging_{token}")
    try:
        try:
            trino.execute(f"CREATE TABLE {staged} WITH (location = '{location}') AS\n{sql}",
                          params or None)
        except TrinoResourceError as exc:
            raise StoreError(trino_error_message(exc, file, _HEADER_LINES + line_offset)
                             ) from None
        (lake.session.read.format("delta").load(staging_path).write.format("delta")
         .mode("overwrite").option("overwriteSchema", "true").save(target))
    finally:
        # An external table: dropping it forgets it, the files go with _delete_path.
        trino.execute(f"DROP TABLE IF EXISTS {staged}")
        _delete_path(lake, staging_path)
    table = trino_table(kind, name)
    trino.register_delta_table(schema, table, target)
    qualified = _qualified(trino, deployment, table)
    rows = trino.execute(f"SELECT count(*) FROM {qualified}")[0][0]
    version = trino.execute(f"SELECT max(version) FROM {qualified[:-1]}$history\"")[0][0]
    return WriteStats(rows=int(rows), version=int(version), metrics={})


def _base_metadata(lake: DeltaLake, trino: TrinoResource, deployment: Deployment, kind: str,
                   name: str, stats: WriteStats) -> dict[str, Any]:
    qualified = _qualified(trino, deployment, trino_table(kind, name))
    standard = lake.table_result(stats, "activation", *lake_parts(kind, name)).metadata
    return {**standard, "trino_table": MetadataValue.text(qualified.replace('"', ""))}


def _tenant_sql(sql: str, cfg: Tenant, deployment: Deployment) -> str:
    return rewrite_schemas(sql, deployment.schema_prefix, (*PUBLISHED_SCHEMAS, *cfg.databases))


# --------------------------------------------------------------------------- saved queries


def _row_count_checks(q: SavedQuery, key: AssetKey) -> list[tuple[AssetCheckSpec, str]]:
    out = []
    for level, severity in (("warn", "WARN"), ("fail", "ERROR")):
        below, above = getattr(q, f"{level}_below"), getattr(q, f"{level}_above")
        if below is None and above is None:
            continue
        bounds = " and ".join(filter(None, (
            f"at least {below}" if below is not None else "",
            f"at most {above}" if above is not None else "")))
        out.append((AssetCheckSpec(
            f"row_count_{level}", asset=key, blocking=level == "fail",
            description=f"{severity}: the query returns {bounds} rows."), level))
    return out


def _query_asset(q: SavedQuery, cfg: Tenant, deployment: Deployment):
    key = query_key(q.name)
    checks = _row_count_checks(q, key)

    @table_asset(key=key, group_name=ACTIVATION_GROUP, deps=[TRINO_PUBLICATION_KEY],
                 kinds={"trino", "delta"},
                 description=q.description or f"Saved query {q.file}.",
                 check_specs=[spec for spec, _ in checks])
    def _query(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        try:
            with stage(context.log, f"activation: query {q.name}") as s:
                stats = store_result(trino, lake, deployment, _tenant_sql(q.statement(), cfg,
                                     deployment), [], "query", q.name, q.file)
                s.count(stats.rows, "rows")
        except StoreError as exc:
            raise Failure(f"saved query {q.name} failed: {exc}") from None
        yield MaterializeResult(metadata={
            **_base_metadata(lake, trino, deployment, "query", q.name, stats),
            "sql_file": MetadataValue.text(q.file),
        })
        for spec, level in checks:
            below, above = getattr(q, f"{level}_below"), getattr(q, f"{level}_above")
            passed = (below is None or stats.rows >= below) and (above is None or
                                                                 stats.rows <= above)
            meta = {"rows": MetadataValue.int(stats.rows)}
            if below is not None:
                meta["minimum"] = MetadataValue.int(below)
            if above is not None:
                meta["maximum"] = MetadataValue.int(above)
            yield AssetCheckResult(
                asset_key=key, check_name=spec.name, passed=passed, metadata=meta,
                severity=AssetCheckSeverity.ERROR if level == "fail" else AssetCheckSeverity.WARN)

    return _query


# --------------------------------------------------------------------------- segments


def segment_sql(segment: SegmentSpec, cfg: Tenant, deployment: Deployment,
                trino: TrinoResource, today: date) -> tuple[str, list[Any], int]:
    """``(sql, params, lines before the tenant's SQL)`` selecting the segment's members."""
    if segment.condition is not None:
        schema = schema_name(deployment, C360_SCHEMA)
        sql, params = compile_condition(segment.condition, read_columns(trino, schema), schema,
                                        today, segment.name, catalog=trino.catalog)
        return sql, params, 0
    inner = _tenant_sql(segment.sql.strip().rstrip(";"), cfg, deployment)
    return (f"SELECT DISTINCT amperity_id FROM (\n{inner}\n) members "
            "WHERE amperity_id IS NOT NULL", [], 1)


def _bar_png(labels: list[str], values: list[float], xlabel: str, ylabel: str) -> str:
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.barh(labels[::-1], values[::-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return (f"![{xlabel} by {ylabel}](data:image/png;base64,"
            f"{base64.b64encode(buf.getvalue()).decode()})")


def segment_insights(trino: TrinoResource, deployment: Deployment | None, name: str,
                     dimension: str = "state", top: int = 10) -> dict[str, Any]:
    """Size, share of all customers, total revenue, AOV, and size/revenue by ``dimension``.

    Revenue is the members' lifetime_revenue; AOV is that revenue over their lifetime
    orders (NULL without orders). Both are NULL when customer_360 has no order columns.
    """
    cat = quote_identifier(trino.catalog, "catalog")
    c360_schema = schema_name(deployment, C360_SCHEMA)
    c360 = f'{cat}.{quote_identifier(c360_schema, "schema")}."customer_360"'
    members = (f"{cat}.{quote_identifier(schema_name(deployment, ACTIVATION_SCHEMA), 'schema')}"
               f".{quote_identifier(trino_table('segment', name), 'table')}")
    columns = read_columns(trino, c360_schema).get("customer_360", {})
    has_orders = {"lifetime_revenue", "lifetime_order_count"} <= set(columns)
    revenue = "sum(c.lifetime_revenue)" if has_orders else "CAST(NULL AS double)"
    orders = "sum(c.lifetime_order_count)" if has_orders else "CAST(NULL AS bigint)"
    joined = f"{members} m JOIN {c360} c ON c.amperity_id = m.amperity_id"
    size, total_revenue, total_orders = trino.execute(
        f"SELECT count(*), {revenue}, {orders} FROM {joined}")[0]
    customers = trino.execute(f"SELECT count(*) FROM {c360}")[0][0]
    out: dict[str, Any] = {
        "size": int(size),
        "customers": int(customers),
        "share": round(size / customers, 4) if customers else 0.0,
        "total_revenue": float(total_revenue) if total_revenue is not None else None,
        "average_order_value": (round(float(total_revenue) / float(total_orders), 2)
                                if total_orders else None),
        "by_dimension": [],
    }
    if dimension in columns:
        dim = quote_identifier(dimension, "column")
        out["by_dimension"] = [
            (label, int(n), float(r) if r is not None else None)
            for label, n, r in trino.execute(
                f"SELECT coalesce(CAST(c.{dim} AS varchar), '(none)'), count(*), {revenue} "
                f"FROM {joined} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top)}")
        ]
    return out


def _segment_asset(segment: SegmentSpec, cfg: Tenant, deployment: Deployment):
    @table_asset(key=segment_key(segment.name), group_name=ACTIVATION_GROUP,
                 deps=[TRINO_PUBLICATION_KEY],
                 kinds={"trino", "delta"},
                 description=segment.description or f"Segment {segment.name} ({SEGMENTS_FILE}).")
    def _segment(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        where = f"{SEGMENTS_FILE} (segment {segment.name})"
        try:
            with stage(context.log, f"activation: segment {segment.name}") as s:
                sql, params, offset = segment_sql(segment, cfg, deployment, trino,
                                                  tenant_today(cfg))
                stats = store_result(trino, lake, deployment, sql, params, "segment",
                                     segment.name, where, offset)
                s.count(stats.rows, "members")
        except (SegmentError, StoreError) as exc:
            raise Failure(str(exc)) from None
        facts = segment_insights(trino, deployment, segment.name, segment.dimension)
        meta = {
            **_base_metadata(lake, trino, deployment, "segment", segment.name, stats),
            "size": MetadataValue.int(facts["size"]),
            "share_of_customers": MetadataValue.float(facts["share"]),
        }
        for field in ("total_revenue", "average_order_value"):
            if facts[field] is not None:
                meta[field] = MetadataValue.float(facts[field])
        if facts["by_dimension"]:
            labels = [row[0] for row in facts["by_dimension"]]
            meta[f"size_by_{segment.dimension}"] = MetadataValue.md(_bar_png(
                labels, [row[1] for row in facts["by_dimension"]], "members",
                segment.dimension))
        return MaterializeResult(metadata=meta)

    return _segment


# --------------------------------------------------------------------------- campaigns


def campaign_sql(campaign: CampaignSpec, cfg: Tenant, deployment: Deployment | None,
                 trino: TrinoResource, today: date, run: str) -> tuple[str, list[Any]]:
    """``(sql, params)`` giving campaign_recipients rows:
    amperity_id, sub_audience, treatment, is_control, run."""
    cat = quote_identifier(trino.catalog, "catalog")
    act = f"{cat}.{quote_identifier(schema_name(deployment, ACTIVATION_SCHEMA), 'schema')}"

    def members(segment: str) -> str:
        return f"{act}.{quote_identifier(trino_table('segment', segment), 'table')}"

    params: list[Any] = []
    excluded = "".join(
        f" AND NOT EXISTS (SELECT 1 FROM {members(s)} x WHERE x.amperity_id = i.amperity_id)"
        for s in campaign.exclude)
    cases = []
    columns = None
    for sub in campaign.sub_audiences:
        if sub.segment is not None:
            rule = f"SELECT amperity_id FROM {members(sub.segment)}"
        else:
            if columns is None:
                columns = read_columns(trino, schema_name(deployment, C360_SCHEMA))
            rule, sub_params = compile_condition(
                sub.condition, columns, schema_name(deployment, C360_SCHEMA), today,
                f"{campaign.name}/{sub.name}", catalog=trino.catalog)
            params += sub_params
        cases.append(f"WHEN m.amperity_id IN ({rule}) THEN '{sub.name}'")
    sub_audience = (f"CASE {' '.join(cases)} ELSE '{DEFAULT_SUB_AUDIENCE}' END" if cases
                    else f"'{DEFAULT_SUB_AUDIENCE}'")
    plan = campaign.plan()
    groups = " ".join(f"WHEN bucket < {edge} THEN '{group}'" for group, edge in plan[:-1])
    treatment = f"CASE {groups} ELSE '{plan[-1][0]}' END" if groups else f"'{plan[-1][0]}'"
    control_edge = plan[0][1] if plan[0][0] == CONTROL else 0
    params.append(run)
    audience = (f"SELECT DISTINCT i.amperity_id, i.amperity_id AS unit "
                f"FROM {members(campaign.include)} i WHERE i.amperity_id IS NOT NULL{excluded}")
    if campaign.one_per_household:
        # The audience's first-ranked member of each household; a customer without a
        # household row is a household of one. Buckets go by household, so a household
        # never sits in two groups, whoever represents it this run.
        households = (f"{cat}.{quote_identifier(schema_name(deployment, C360_SCHEMA), 'schema')}"
                      f".\"{HOUSEHOLD_MEMBERS}\"")
        audience = (
            f"SELECT amperity_id, unit FROM (SELECT a.amperity_id, "
            f"coalesce(h.household_id, a.amperity_id) AS unit, row_number() OVER ("
            f"PARTITION BY coalesce(h.household_id, a.amperity_id) "
            f"ORDER BY h.household_rank, a.amperity_id) AS rn FROM ({audience}) a "
            f"LEFT JOIN {households} h ON h.amperity_id = a.amperity_id) WHERE rn = 1")
    sql = (
        f"WITH members AS ({audience}), "
        f"labelled AS (SELECT m.amperity_id, {sub_audience} AS sub_audience, "
        f"{bucket_sql(repr(campaign.name), 'm.unit')} AS bucket FROM members m) "
        f"SELECT amperity_id, sub_audience, {treatment} AS treatment, "
        f"bucket < {control_edge} AS is_control, CAST(? AS varchar) AS run FROM labelled"
    )
    return sql, params


def _campaign_asset(campaign: CampaignSpec, cfg: Tenant, deployment: Deployment):
    conditions = any(s.condition is not None for s in campaign.sub_audiences)
    published = conditions or campaign.one_per_household
    deps = [segment_key(s) for s in campaign.segments] + ([TRINO_PUBLICATION_KEY] if published
                                                          else [])
    destinations = {t.name: t.destination for t in campaign.treatments}

    @table_asset(key=campaign_key(campaign.name), group_name=ACTIVATION_GROUP, deps=deps,
                 kinds={"trino", "delta"},
                 description=campaign.description or f"Campaign {campaign.name} recipients "
                                                      f"({campaign.schedule}).")
    def _campaign(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        where = f"{CAMPAIGNS_FILE} (campaign {campaign.name})"
        try:
            with stage(context.log, f"activation: campaign {campaign.name}") as s:
                sql, params = campaign_sql(campaign, cfg, deployment, trino,
                                           tenant_today(cfg), context.run.run_id)
                stats = store_result(trino, lake, deployment, sql, params, "campaign",
                                     campaign.name, where)
                s.count(stats.rows, "recipients")
        except (SegmentError, StoreError) as exc:
            raise Failure(str(exc)) from None
        counts = trino.execute(
            "SELECT sub_audience, treatment, count(*) FROM "
            f"{_qualified(trino, deployment, trino_table('campaign', campaign.name))} "
            "GROUP BY 1, 2 ORDER BY 1, 2")
        table = ["| sub_audience | treatment | destination | recipients |", "|---|---|---|---|"]
        table += [f"| {sub} | {treatment} | {destinations.get(treatment, '')} | {n} |"
                  for sub, treatment, n in counts]
        by_treatment: dict[str, int] = {}
        for _, treatment, n in counts:
            by_treatment[treatment] = by_treatment.get(treatment, 0) + n
        return MaterializeResult(metadata={
            **_base_metadata(lake, trino, deployment, "campaign", campaign.name, stats),
            "recipients_by_group": MetadataValue.md("\n".join(table)),
            "recipients_by_treatment": MetadataValue.json(by_treatment),
            "schedule": MetadataValue.text(campaign.schedule),
            **({"launch_date": MetadataValue.text(campaign.launch_date.isoformat())}
               if campaign.launch_date else {}),
        })

    return _campaign


def build_audience_assets(cfg: Tenant, deployment: Deployment) -> list:
    """One asset per saved query (with its row-count checks), segment and campaign."""
    return [
        *(_query_asset(q, cfg, deployment) for q in cfg.queries),
        *(_segment_asset(s, cfg, deployment) for s in cfg.segments),
        *(_campaign_asset(c, cfg, deployment) for c in cfg.campaigns),
    ]
