"""Apply matched requests to every Delta table of the deployment, then VACUUM them.

Each table is found by walking the deployment's lake prefix and matched by what it holds:

- a Stitch domain table (feed, custom or event table marked for Stitch): by its primary
  key, the records matched (``direct`` / ``connected``);
- a feed with a ``customer-key`` field: by that key pointing at a matched record
  (``source key``);
- a table with ``source`` and ``pk``, a ``record_id`` or a pair of them
  (``record_id_l``/``_r``): by the matched records;
- a table with ``amperity_id`` (Stitch outputs, Customer 360, activation): by the matched
  people's amperity_ids (see below);
- a custom domain table built by SQL without a Stitch key: rebuilt from its SQL;
- any other table (quarantine, events, failed events, ...): rows any string column of
  which holds one of the person's identifying values (as a whole value or a JSON string in
  a record).

``delete`` deletes the rows; ``delete_pii`` nulls the PII columns (the one PII rule) and
leaves tables without PII columns alone. Quarantined rows under ``delete_pii`` keep their
place with the PII fields of their raw record (and a PII value quoted in the reason)
nulled. Other tables searched by values (events, failed events) keep their rows with
their PII columns nulled (a failed event's raw ``record``, an event's ``traits`` and
``context``); a row that still holds one of the person's values in another column (a
property, say) is deleted, and so is a matching row of a table without PII columns.

A row keyed only by ``amperity_id`` is one customer, built from all of Stitch's records of
that ID. Under ``connected`` they are all the person's, and the row is deleted. Under
``exact`` a request may match only some of them (Stitch linked records the request does
not name): the customer is someone the brand still holds records of, so the row is kept
with its PII columns nulled (the deleted person's values may be in them) rather than
deleted; Customer 360, which runs after privacy, builds it again from the records left,
and activation tables get it back on their next run. A customer all of whose records the
request matched is deleted, as under ``connected``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_pipelines.governance.privacy.matching import (
    SOURCE_KEY,
    Match,
    group_by_source,
    partly_matched_ids,
)
from cdp_pipelines.governance.privacy.suppression import PRIVACY_DIR
from cdp_pipelines.resources.lake_files import is_object_store, lake_path
from cdp_pipelines.sources.domain import QUARANTINE_TABLE
from cdp_pipelines.stitch.inputs import PK_SEPARATOR, stitch_tables
from cdp_pipelines.tenant.model import Tenant

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from cdp_pipelines.resources.delta_io import DeltaLake

# Tables with no personal data of their own (file checksums, delivery hashes) or Privacy's.
SKIPPED = {("_system", "ingest_log"), ("activation", "delivery_log")}


@dataclass(frozen=True)
class Action:
    request_id: str
    table: str
    records: int
    action: str
    category: str


def _table_directories(root: str) -> Iterator[tuple[str, ...]]:
    """Relative parts of every directory under ``root`` holding a ``_delta_log`` (a local
    walk that stops at each table; one recursive listing on an object store)."""
    if is_object_store(root):
        base = lake_path(root)
        found = {entry.relative_to(base).parts for entry in base.rglob("_delta_log")}
        yield from (parts[:-1] for parts in found
                    if "_delta_log" not in parts[:-1])
        return
    for directory, dirs, _ in os.walk(root):
        if "_delta_log" in dirs:
            dirs.clear()
            yield Path(directory).relative_to(root).parts


def delta_tables(lake: "DeltaLake") -> list[tuple[str, ...]]:
    """(layer, *parts) of every Delta table under the deployment's prefix."""
    out = []
    for parts in _table_directories(str(lake.deployment.root)):
        if parts[0] in ("landing", "outbox") or parts[:2] == ("_system", PRIVACY_DIR) \
                or tuple(parts) in SKIPPED or "_staging" in parts:
            continue
        out.append(tuple(parts))
    return sorted(out)


def _pk_expr(primary_key: tuple[str, ...]) -> "Column":
    from pyspark.sql import functions as F

    if len(primary_key) == 1:
        return F.col(primary_key[0]).cast("string")
    return F.concat_ws(PK_SEPARATOR, *[F.col(k).cast("string") for k in primary_key])


def _values_hit(df: "DataFrame", values: set[str]) -> "Column | None":
    """Rows with a string column equal to one of ``values`` (or holding it as a JSON
    string, e.g. a quarantined record)."""
    from pyspark.sql import functions as F

    strings = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
    if not strings or not values:
        return None
    listed = sorted(values)
    tokens = F.array(*[F.lit(f'"{v}"') for v in listed])
    hit = None
    for column in strings:
        text = F.lower(F.col(f"`{column}`"))
        one = F.trim(text).isin(listed) | F.exists(tokens, lambda t: F.instr(text, t) > 0)
        hit = one if hit is None else hit | one
    return F.coalesce(hit, F.lit(False))


@dataclass(frozen=True)
class Keyed:
    """A table's key expression, key -> [(request, category)], and whether a key is a
    customer (amperity_id) rather than a record."""

    expr: "Column"
    keys: dict[str, list[tuple[str, str]]]
    customers: bool = False


class _Plan:
    """What to look for, over several requests of one action."""

    def __init__(self, config: Tenant, matches: list[Match]) -> None:
        self.config = config
        self.matches = matches
        self.by_source = group_by_source(matches)
        self.stitch = {t.name: t for t in stitch_tables(config)}
        self.customer_keys = {f.name: [(x.name, x.references) for x in f.fields_tagged(
            "customer-key")] for _, f in config.feeds}
        self.custom = {t.name: t for t in config.custom_domain_tables}
        # Customers who keep records besides the matched ones (exact requests).
        self.kept_ids = partly_matched_ids(matches)
        self.by_record_id: dict[str, list[tuple[str, str]]] = {}
        self.by_amperity: dict[str, list[tuple[str, str]]] = {}
        for m in matches:
            for (source, pk), category in m.records.items():
                self.by_record_id.setdefault(f"{source}:{pk}", []).append(
                    (m.request.request_id, category))
            strategy = "connected" if m.request.strategy == "connected" else "direct"
            for aid in m.amperity_ids:
                self.by_amperity.setdefault(aid, []).append((m.request.request_id, strategy))

    def keyed(self, parts: tuple[str, ...], df: "DataFrame") -> "Keyed | None":
        """How a table's rows are found by key, or None (searched by values instead)."""
        from pyspark.sql import functions as F

        name = parts[-1]
        columns = set(df.columns)
        if parts[0] == "domain" and name in self.stitch:
            return Keyed(_pk_expr(self.stitch[name].primary_key),
                         dict(self.by_source.get(name, {})))
        if parts[0] == "domain" and self.customer_keys.get(name):
            keys: dict[str, list] = {}
            expr = None
            for column, references in self.customer_keys[name]:
                for pk, reqs in self.by_source.get(references, {}).items():
                    keys.setdefault(pk, []).extend((r, SOURCE_KEY) for r, _ in reqs)
                expr = F.col(column).cast("string") if expr is None else expr
            return Keyed(expr, keys)
        if {"source", "pk"} <= columns:
            return Keyed(F.concat_ws(":", "source", "pk"), self.by_record_id)
        if "record_id" in columns:
            return Keyed(F.col("record_id"), self.by_record_id)
        if "amperity_id" in columns:
            return Keyed(F.col("amperity_id").cast("string"), self.by_amperity,
                         customers=True)
        return None

    @property
    def values(self) -> set[str]:
        return set().union(*(m.values for m in self.matches)) if self.matches else set()


def _pii_of(df: "DataFrame", table: str, lake: "DeltaLake") -> list[str]:
    """PII columns of a table, including the left/right copies of a pair table."""
    cols = []
    for c in df.columns:
        base = c[:-2] if c.endswith(("_l", "_r")) else c
        if lake.pii_columns([c], table) or lake.pii_columns([base], table):
            cols.append(c)
    return cols


def _quarantine_pii_nulled(config: Tenant) -> dict[str, "Column"]:
    """The quarantine table's update under ``delete_pii``: each feed's PII fields nulled in
    the raw record (JSON of file column -> text), and a PII value quoted in the reason."""
    from pyspark.sql import functions as F

    record = F.col("record")
    parsed = F.from_json("record", "map<string,string>")
    names: list[str] = []
    for _, feed in config.feeds:
        columns = [feed.field(c).file_column for c in feed.pii_columns]
        names += feed.pii_columns
        if columns:
            nulled = F.to_json(F.transform_values(parsed, lambda k, v: F.when(
                k.isin(columns), F.lit(None).cast("string")).otherwise(v)))
            record = F.when(F.col("feed") == feed.name, nulled).otherwise(record)
    update = {"record": record}
    if names:
        # _typed's reason quotes the unreadable value: "field birthdate: cannot read '...' as".
        fields = "|".join(sorted({re.escape(n) for n in names}))
        update["reason"] = F.regexp_replace(
            "reason", f"(field (?:{fields}): cannot read )'.*?'( as)", "$1(value removed)$2")
    return update


def _counts(hits: list, keys: dict[str, list[tuple[str, str]]]) -> dict[tuple[str, str], int]:
    """(request, category) -> rows, from the rows per key found."""
    counts: dict[tuple[str, str], int] = {}
    for h in hits:
        for request_id, category in keys[h["_k"]]:
            counts[(request_id, category)] = counts.get((request_id, category), 0) + h["count"]
    return counts


def _raw_counts(df: "DataFrame", condition: "Column",
                matches: list[Match]) -> dict[tuple[str, str], int]:
    """(request, "direct") -> rows of a table searched by values: raw records are few, and
    which request each belongs to is told by its values."""
    from pyspark.sql import functions as F

    texts = [r[0] for r in df.where(condition).select(F.lower(F.to_json(F.struct(
        *[F.col(f"`{c}`") for c in df.columns])))).collect()]
    counts = {}
    for m in matches:
        n = sum(1 for t in texts if any(v in t for v in m.values))
        if n:
            counts[(m.request.request_id, "direct")] = n
    return counts


def _apply_to_table(lake: "DeltaLake", config: Tenant, plan: _Plan, parts: tuple[str, ...],
                    action: str, log) -> list[Action]:
    """Delete the matched rows of one table, or null their PII; the actions taken."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    label = "/".join(parts)
    path = lake.path_for_write(*parts)
    df = lake.session.read.format("delta").load(path)
    keyed = plan.keyed(parts, df)
    kept: list[str] = []
    if keyed is not None:
        if not keyed.keys:
            return []
        hits = (df.select(keyed.expr.alias("_k")).where(F.col("_k").isin(list(keyed.keys)))
                .groupBy("_k").count().collect())
        if not hits:
            return []
        found = [h["_k"] for h in hits]
        condition = keyed.expr.isin(found)
        counts = _counts(hits, keyed.keys)
        if keyed.customers and action == "delete":
            kept = [k for k in found if k in plan.kept_ids]
            condition = keyed.expr.isin([k for k in found if k not in plan.kept_ids])
    else:
        condition = _values_hit(df, plan.values)
        if condition is None:
            return []
        counts = _raw_counts(df, condition, plan.matches)
        if not counts:
            return []
    table = DeltaTable.forPath(lake.session, path)
    pii = _pii_of(df, parts[-1], lake)
    null_pii = {f"`{c}`": F.lit(None).cast(df.schema[c].dataType) for c in pii}
    if keyed is None and action == "delete_pii" and parts == ("domain", QUARANTINE_TABLE):
        table.update(condition, _quarantine_pii_nulled(config))
        done = "null PII fields of the raw records"
    elif keyed is None and action == "delete_pii" and null_pii:
        table.update(condition, null_pii)
        done = f"null {len(pii)} PII column(s)"
        # Searched again: a value the PII rule does not cover (a property) takes the row.
        after = lake.session.read.format("delta").load(path)
        left = _values_hit(after, plan.values)
        still = after.where(left).count() if left is not None else 0
        if still:
            table.delete(left)
            done += f"; {still} row(s) still holding an identifier deleted"
    elif action == "delete" or keyed is None:
        table.delete(condition)
        done = "delete"
        if kept:
            if null_pii:
                table.update(keyed.expr.isin(kept), null_pii)
            done = f"delete; {len(kept)} customer(s) with other records kept, PII nulled"
    elif not pii:
        return []  # delete_pii: nothing personal in this table to null
    else:
        table.update(condition, null_pii)
        done = f"null {len(pii)} PII column(s)"
    log.info(f"privacy: {label}: {done}, {sum(counts.values())} row(s)")
    return [Action(r, label, n, done, c) for (r, c), n in sorted(counts.items())]


def apply_to_tables(lake: "DeltaLake", config: Tenant, matches: list[Match], action: str,
                    log) -> tuple[list[Action], list[tuple[str, ...]]]:
    """Delete (``action="delete"``) or null PII (``"delete_pii"``) of the matched people in
    every table; return the actions taken and the tables changed."""
    from cdp_pipelines.sources.assets import (
        referenced_tables,
        register_views,
        run_tenant_sql,
    )

    plan = _Plan(config, matches)
    actions: list[Action] = []
    changed: list[tuple[str, ...]] = []
    rebuild = []
    for parts in delta_tables(lake):
        if parts[0] == "domain" and parts[-1] in plan.custom and parts[-1] not in plan.stitch:
            rebuild.append(parts)
            continue
        done = _apply_to_table(lake, config, plan, parts, action, log)
        if done:
            changed.append(parts)
            actions += done
    for parts in rebuild:
        table = plan.custom[parts[-1]]
        known = set(plan.stitch) | {f.name for _, f in config.feeds} | set(plan.custom)
        register_views(lake, referenced_tables(table.sql, known))
        lake.overwrite(run_tenant_sql(lake, table.sql, table.path), *parts)
        changed.append(parts)
        actions += [Action(m.request.request_id, "/".join(parts), 0, "rebuilt from SQL",
                           SOURCE_KEY) for m in matches]
    return actions, changed


def vacuum(lake: "DeltaLake", tables: list[tuple[str, ...]], retention_hours: int) -> None:
    """Remove the files of old table versions older than the retention: until then, time
    travel can still read the deleted rows."""
    from delta.tables import DeltaTable

    parent = lake.session
    spark = parent.newSession()
    # Delta refuses a retention under its own 7-day floor unless told it is deliberate.
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    # VACUUM lists files with Spark's partition-discovery parallelism (10,000 tasks by
    # default): one task per core is plenty for a table's directory.
    cores = str(max(parent.sparkContext.defaultParallelism, 1))
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.parallelism", cores)
    spark.conf.set("spark.sql.shuffle.partitions",
                   parent.conf.get("spark.sql.shuffle.partitions"))
    paths = [lake.path_for_write(*parts) for parts in sorted(set(tables))]
    # A VACUUM of a small table is mostly waiting on its few small Spark jobs: a few at
    # once keep the cores busy (a third faster here on 2 cores).
    with ThreadPoolExecutor(max_workers=min(4, max(len(paths), 1))) as pool:
        list(pool.map(lambda path: DeltaTable.forPath(spark, path).vacuum(
            float(retention_hours)), paths))


def person_rows(lake: "DeltaLake", config: Tenant, match: Match) -> dict[str, Any]:
    """Every row held on one person, table by table (``layer/table`` -> rows), for a
    DSAR report; the same matching as deletion, reading instead of changing."""

    plan = _Plan(config, [match])
    out: dict[str, Any] = {}
    for parts in delta_tables(lake):
        df = lake.read(*parts)
        keyed = plan.keyed(parts, df)
        if keyed is not None:
            condition = keyed.expr.isin(list(keyed.keys)) if keyed.keys else None
        else:
            condition = _values_hit(df, plan.values)
        if condition is None:
            continue
        rows = [r.asDict(recursive=True) for r in df.where(condition).limit(10000).collect()]
        if rows:
            out["/".join(parts)] = rows
    return {k: v for k, v in out.items() if v}
