"""The one way assets read and write Delta tables of the lake.

Every write goes through :meth:`DeltaLake.path_for_write`, which asks the deployment
whether the path is its own, so a sandbox cannot write outside ``branches/<name>/``.
Writes are Delta transactions: a failed write leaves the previous version readable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence, TypeVar

from dagster import (
    AssetKey,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    get_dagster_logger,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.governance.pii import pii_columns
from cdp_pipelines.resources.spark import SparkResource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

T = TypeVar("T")
PREVIEW_ROWS = 5
MASK = "•••"


@dataclass(frozen=True)
class WriteStats:
    # Rows in the table after the write; None where the write did not count them.
    rows: int | None
    version: int
    metrics: dict[str, Any]

    @property
    def rows_changed(self) -> int:
        """Rows the write inserted, replaced or deleted: every row of an overwrite, what a
        MERGE touched, 0 when it committed nothing."""
        if "numTargetRowsInserted" not in self.metrics:  # not a MERGE
            return int(self.metrics.get("numOutputRows", 0))
        return sum(int(self.metrics.get(f"numTargetRows{kind}", 0))
                   for kind in ("Inserted", "Updated", "Deleted"))


def _is_local(path: str) -> bool:
    return "://" not in path


def table_exists(spark: "SparkSession", path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def last_commit(spark: "SparkSession", path: str) -> tuple[int, dict[str, Any]]:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).collect()[0]
    return int(row["version"]), dict(row["operationMetrics"] or {})


def table_identity(spark: "SparkSession", path: str) -> tuple[str, int]:
    """(id, current version) of the Delta table at ``path``: a table re-created at the same
    path has another id."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    return str(table.detail().first()["id"]), int(table.history(1).first()["version"])


# Delta's optimistic concurrency: another writer committed to the table first.
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException",
              "ConcurrentDeleteDeleteException", "ConcurrentTransactionException",
              "MetadataChangedException", "ProtocolChangedException", "DELTA_CONCURRENT")
CONFLICT_ATTEMPTS = 5


def _retry_conflicts(write: Callable[[], T], path: str) -> T:
    """Run a Delta write, again on a commit conflict with another writer (the write is
    retried against the table as that writer left it), saying so in the run's log."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return write()
        except Exception as exc:  # noqa: BLE001 - Spark wraps Delta's conflicts several ways
            conflict = next((c for c in _CONFLICTS if c in str(exc)), None)
            if conflict is None or attempt == CONFLICT_ATTEMPTS:
                raise
            get_dagster_logger().warning(
                f"Delta table {path}: another writer committed first ({conflict}); "
                f"retrying the write ({attempt + 1}/{CONFLICT_ATTEMPTS})")
            time.sleep(min(2.0 ** attempt, 30.0) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def append(df: "DataFrame", path: str) -> None:
    _retry_conflicts(lambda: df.write.format("delta").mode("append").save(path), path)


def _columns(df: "DataFrame") -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def _same_contents(new: "DataFrame", current: "DataFrame") -> bool:
    if _columns(new) != _columns(current) or new.count() != current.count():
        return False
    try:
        return new.exceptAll(current).isEmpty() and current.exceptAll(new).isEmpty()
    except Exception:  # noqa: BLE001 - e.g. map columns cannot be compared: write anyway
        return False


def overwrite(df: "DataFrame", path: str) -> WriteStats:
    """Replace a table's contents (and schema) in one Delta commit. Contents equal to the
    table's current ones commit nothing: time travel and change feeds show real changes."""
    spark = df.sparkSession
    if table_exists(spark, path):
        # Computed once, then compared and (if it differs) written.
        df = df.localCheckpoint(eager=True)
        current = spark.read.format("delta").load(path)
        if _same_contents(df, current):
            version, _ = last_commit(spark, path)
            return WriteStats(rows=current.count(), version=version, metrics={})
    _retry_conflicts(lambda: df.write.format("delta").mode("overwrite")
                     .option("overwriteSchema", "true").save(path), path)
    version, metrics = last_commit(spark, path)
    if "numOutputRows" in metrics:
        rows = int(metrics["numOutputRows"])
    else:
        rows = spark.read.format("delta").load(path).count()
    return WriteStats(rows=rows, version=version, metrics=metrics)


def _key_condition(keys: Iterable[str]) -> str:
    """A MERGE's match on `keys` between target `t` and source `s` (NULL-safe)."""
    return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)


def merge(
    df: "DataFrame",
    path: str,
    keys: Iterable[str],
    update_condition: str | None = None,
) -> WriteStats:
    """Upsert ``df`` into the table at ``path`` by ``keys`` (null-safe), creating it if new.

    ``update_condition`` is a SQL predicate over ``s`` (source) and ``t`` (target) rows
    that must hold for a matched row to be replaced.
    """
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if not table_exists(spark, path):
        # First load: the upsert of a batch into nothing is the batch (keys deduplicated
        # by the caller), written in one commit.
        stats = overwrite(df, path)
        return WriteStats(stats.rows, stats.version,
                          {**stats.metrics, "numTargetRowsInserted": str(stats.rows)})
    condition = _key_condition(keys)
    _retry_conflicts(lambda: (
        DeltaTable.forPath(spark, path).alias("t")
        .merge(df.alias("s"), condition)
        .whenMatchedUpdateAll(condition=update_condition)
        .whenNotMatchedInsertAll()
        .execute()
    ), path)
    version, metrics = last_commit(spark, path)
    rows = spark.read.format("delta").load(path).count()
    return WriteStats(rows=rows, version=version, metrics=metrics)


def _turn_on(spark: "SparkSession", path: str, prop: str) -> None:
    """Set the boolean table property `prop` of the table at ``path`` to true, unless it
    is already (a commit of its own)."""
    from delta.tables import DeltaTable

    properties = DeltaTable.forPath(spark, path).detail().collect()[0]["properties"] or {}
    if properties.get(prop) != "true":
        _retry_conflicts(lambda: spark.sql(
            f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{prop}' = 'true')"), path)


def enable_deletion_vectors(spark: "SparkSession", path: str) -> None:
    """Turn on deletion vectors for the table at ``path`` (once; a protocol upgrade every
    reader of ours and Trino's Delta connector read): DELETE, UPDATE and MERGE then mark
    the rows they replace instead of rewriting the files holding them."""
    _turn_on(spark, path, "delta.enableDeletionVectors")


# The layers whose tables record Delta's change data feed, from their first write on:
# Stitch reads what changed in the domain tables since its last run (rows inserted,
# updated and deleted, by any writer: loads, events, privacy requests) instead of every
# row of every table.
CHANGE_FEED_LAYERS = frozenset({"domain"})
_FEED_ON: set[str] = set()  # paths whose change feed this process turned on or saw on


def enable_change_feed(spark: "SparkSession", path: str) -> None:
    """Turn on the change data feed of the table at ``path`` (a writer-only protocol
    upgrade; readers, Trino's among them, are unaffected). Changes are recorded from the
    commit that turns it on."""
    if path not in _FEED_ON:
        _turn_on(spark, path, "delta.enableChangeDataFeed")
        _FEED_ON.add(path)


def rewrites_whole(spark: "SparkSession", path: str, first: int, last: int) -> list[int]:
    """The versions from `first` to `last` of the table at ``path`` whose commit replaced
    its contents whole (an overwrite, a REPLACE, a RESTORE): a change feed shows every row
    of the table deleted and inserted again in them."""
    from delta.tables import DeltaTable

    # Only the commits from `first` on are read (a table an event follower appends to
    # holds thousands).
    latest, _ = last_commit(spark, path)
    history = DeltaTable.forPath(spark, path).history(max(latest - int(first) + 1, 1)).where(
        f"version BETWEEN {int(first)} AND {int(last)}").select(
        "version", "operation", "operationParameters").collect()
    return sorted(int(r["version"]) for r in history
                  if (r["operationParameters"] or {}).get("mode") == "Overwrite"
                  or "REPLACE" in r["operation"] or r["operation"] == "RESTORE")


def read_changes(spark: "SparkSession", path: str, first: int, last: int) -> "DataFrame":
    """The change data feed of the table at ``path`` from version `first` to `last`
    (inclusive): its rows with ``_change_type`` (insert, update_preimage,
    update_postimage, delete), ``_commit_version`` and ``_commit_timestamp``. Lazy: a
    range the feed did not record fails when the frame is computed (DELTA_MISSING_CHANGE_DATA)."""
    return (spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", first).option("endingVersion", last).load(path))


def replace_rows(whole: "DataFrame", path: str, keys: Sequence[str], upserts: "DataFrame",
                 deletes: "DataFrame | None" = None) -> WriteStats:
    """Make the table at ``path`` hold ``whole`` by writing only what changed: ``upserts``
    (rows of ``whole``, new or replacing the stored row with their ``keys``) and
    ``deletes`` (the ``keys`` of stored rows ``whole`` lacks), in one Delta commit, a
    MERGE over deletion vectors, so the files holding the other rows are kept as they are.

    The caller vouches that ``whole`` equals the table with those changes applied;
    ``whole`` itself is only computed when the table cannot take them (it does not exist,
    or its columns are not ``whole``'s): then it is written in full (:func:`overwrite`).
    ``upserts`` and ``deletes`` must not share a key, nor hold one twice."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    spark = whole.sparkSession
    if not table_exists(spark, path) or _columns(
            spark.read.format("delta").load(path)) != _columns(whole):
        return overwrite(whole, path)
    op = "_cdp_change"
    source = upserts.select(*whole.columns).withColumn(op, F.lit("upsert"))
    if deletes is not None:
        source = source.unionByName(deletes.select(*keys).withColumn(op, F.lit("delete")),
                                    allowMissingColumns=True)
    # Computed once: Delta's MERGE reads its source twice (matching files, then writing).
    source = source.localCheckpoint(eager=True)
    if source.isEmpty():
        version, _ = last_commit(spark, path)
        return WriteStats(rows=spark.read.format("delta").load(path).count(), version=version,
                          metrics={})
    enable_deletion_vectors(spark, path)
    condition = _key_condition(keys)
    values = {f"`{c}`": f"s.`{c}`" for c in whole.columns}
    _retry_conflicts(lambda: (
        DeltaTable.forPath(spark, path).alias("t").merge(source.alias("s"), condition)
        .whenMatchedDelete(condition=f"s.{op} = 'delete'")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=f"s.{op} = 'upsert'", values=values)
        .execute()), path)
    version, metrics = last_commit(spark, path)
    return WriteStats(rows=spark.read.format("delta").load(path).count(), version=version,
                      metrics=metrics)


def insert_new(df: "DataFrame", path: str, keys: Iterable[str],
               within: str | None = None) -> WriteStats:
    """Insert the rows of ``df`` whose keys the table at ``path`` lacks (creating it if
    new); stored rows are never changed. An insert-only MERGE: Delta writes only the new
    rows and rewrites no file.

    ``within``: a condition on the table's own columns (``t.``) that every stored row a
    new one could repeat meets, e.g. a time window; Delta then skips the files outside it
    (by their min/max statistics) instead of reading the keys of the whole table."""
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if not table_exists(spark, path):
        stats = overwrite(df, path)
        return WriteStats(stats.rows, stats.version,
                          {**stats.metrics, "numTargetRowsInserted": str(stats.rows)})
    condition = _key_condition(keys) + (f" AND ({within})" if within else "")
    (DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), condition)
     .whenNotMatchedInsertAll().execute())
    version, metrics = last_commit(spark, path)
    # The table's row count is left to whoever shows it (:func:`table_metadata`): a
    # frequent loader (the event follower) needs only what the MERGE inserted.
    return WriteStats(rows=None, version=version, metrics=metrics)


def compact(spark: "SparkSession", path: str) -> dict[str, Any]:
    """Rewrite a table's small files into fewer large ones (Delta OPTIMIZE, bin-packing):
    the rows and their values are unchanged, readers of older versions keep theirs.
    A frequent appender's tables need it, or every read lists thousands of files.
    Returns the OPTIMIZE commit's metrics, empty when there was nothing to compact."""
    from delta.tables import DeltaTable

    before, _ = last_commit(spark, path)
    _retry_conflicts(lambda: DeltaTable.forPath(spark, path).optimize().executeCompaction(),
                     path)
    after, metrics = last_commit(spark, path)
    # Nothing to bin-pack commits nothing.
    return metrics if after != before else {}


def preview_markdown(df: "DataFrame", masked: Iterable[str] = (), n: int = PREVIEW_ROWS) -> str:
    """A few rows as a Markdown table for the Dagster UI, PII columns masked."""
    masked = set(masked)
    cols = [c for c in df.columns if not c.startswith("_")][:12]
    rows = df.select(*cols).limit(n).collect() if cols else []

    def cell(col: str, value: Any) -> str:
        if value is None:
            return ""
        if col in masked:
            return MASK
        return str(value).replace("|", "\\|").replace("\n", " ")[:40]

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def column_schema(df: "DataFrame") -> TableSchema:
    return TableSchema(columns=[TableColumn(name=f.name, type=f.dataType.simpleString())
                                for f in df.schema.fields])


def table_metadata(
    df: "DataFrame", path: str, stats: WriteStats, masked: Iterable[str] = ()
) -> dict[str, Any]:
    """The standard metadata of a written table, as the Dagster UI shows it."""
    return {
        "dagster/row_count": MetadataValue.int(df.count() if stats.rows is None else stats.rows),
        "dagster/column_schema": MetadataValue.table_schema(column_schema(df)),
        "delta_version": MetadataValue.int(stats.version),
        "path": MetadataValue.path(path) if _is_local(path) else MetadataValue.url(path),
        "preview": MetadataValue.md(preview_markdown(df, masked)),
    }


class DeltaLake(ConfigurableResource):
    """The lake's Delta tables of one deployment, configured once where definitions are
    built (:meth:`for_deployment`): every path it reads or writes is that deployment's."""

    spark: SparkResource
    lake_root: str
    sandbox: str | None = None
    # The tenant's feed fields that are PII (besides the platform's own PII names).
    pii_fields: list[str] = []

    @classmethod
    def for_deployment(cls, spark: SparkResource, deployment: Deployment,
                       pii_fields: Iterable[str] = ()) -> "DeltaLake":
        return cls(spark=spark, lake_root=deployment.lake_root, sandbox=deployment.sandbox,
                   pii_fields=sorted(pii_fields))

    def pii_columns(self, columns: Iterable[str], table: str) -> list[str]:
        """The columns of ``table`` that previews and Trino's masks hide."""
        return pii_columns(columns, table=table, tenant_pii=self.pii_fields)

    @property
    def deployment(self) -> Deployment:
        return Deployment(lake_root=self.lake_root, sandbox=self.sandbox)

    @property
    def session(self) -> "SparkSession":
        return self.spark.get_session()

    def path(self, layer: str, *parts: str) -> str:
        return self.deployment.path(layer, *parts)

    def path_for_write(self, layer: str, *parts: str) -> str:
        return self.deployment.check_writable(self.path(layer, *parts))

    def exists(self, layer: str, *parts: str) -> bool:
        return table_exists(self.session, self.path(layer, *parts))

    def version(self, layer: str, *parts: str) -> int:
        """The table's current Delta version."""
        return last_commit(self.session, self.path(layer, *parts))[0]

    def _existing(self, layer: str, *parts: str) -> str:
        """The table's path, or a FileNotFoundError naming the table when there is none."""
        path = self.path(layer, *parts)
        if not table_exists(self.session, path):
            raise FileNotFoundError(
                f"Delta table {'/'.join((layer,) + parts)} does not exist at {path}; "
                "materialize the asset that builds it first"
            )
        return path

    def identity(self, layer: str, *parts: str) -> tuple[str, int]:
        """(Delta table id, current version) of the table (:func:`table_identity`)."""
        return table_identity(self.session, self._existing(layer, *parts))

    def read(self, layer: str, *parts: str, version: int | None = None) -> "DataFrame":
        """The table now, or as it was at `version`."""
        path = self._existing(layer, *parts)
        reader = self.session.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(path)

    def rewrites_whole(self, layer: str, *parts: str, first: int, last: int) -> list[int]:
        """Its versions `first` to `last` that replaced it whole (:func:`rewrites_whole`)."""
        return rewrites_whole(self.session, self.path(layer, *parts), first, last)

    def read_changes(self, layer: str, *parts: str, first: int, last: int) -> "DataFrame":
        """The table's change data feed, versions `first` to `last` (:func:`read_changes`)."""
        return read_changes(self.session, self.path(layer, *parts), first, last)

    def _written(self, layer: str, parts: tuple[str, ...], out: T) -> T:
        if layer in CHANGE_FEED_LAYERS:
            enable_change_feed(self.session, self.path(layer, *parts))
        return out

    def overwrite(self, df: "DataFrame", layer: str, *parts: str) -> WriteStats:
        return self._written(layer, parts, overwrite(df, self.path_for_write(layer, *parts)))

    def append(self, df: "DataFrame", layer: str, *parts: str) -> None:
        self._written(layer, parts, append(df, self.path_for_write(layer, *parts)))

    def merge(self, df: "DataFrame", layer: str, *parts: str, keys: Iterable[str],
              update_condition: str | None = None) -> WriteStats:
        return self._written(layer, parts, merge(df, self.path_for_write(layer, *parts), keys,
                                                 update_condition))

    def compact(self, layer: str, *parts: str) -> dict[str, Any]:
        return compact(self.session, self.path_for_write(layer, *parts))

    def replace_rows(self, whole: "DataFrame", layer: str, *parts: str, keys: Sequence[str],
                     upserts: "DataFrame", deletes: "DataFrame | None" = None) -> WriteStats:
        return self._written(layer, parts, replace_rows(
            whole, self.path_for_write(layer, *parts), keys, upserts, deletes))

    def insert_new(self, df: "DataFrame", layer: str, *parts: str,
                   keys: Iterable[str], within: str | None = None) -> WriteStats:
        return self._written(layer, parts, insert_new(df, self.path_for_write(layer, *parts),
                                                      keys, within))

    def table_result(self, stats: WriteStats, layer: str, *parts: str,
                     masked: Iterable[str] | None = None, metadata: dict[str, Any] | None = None,
                     asset_key: AssetKey | None = None) -> MaterializeResult:
        """The materialization of a table just written: its standard metadata (PII masked
        in the preview by :mod:`cdp_pipelines.governance.pii` unless ``masked`` says which
        columns) plus ``metadata``."""
        out = self.read(layer, *parts)
        masked = self.pii_columns(out.columns, parts[-1]) if masked is None else list(masked)
        meta = table_metadata(out, self.path(layer, *parts), stats, masked)
        meta["pii_columns"] = MetadataValue.json(masked)
        return MaterializeResult(asset_key=asset_key, metadata={**meta, **(metadata or {})})

    def write_table(self, df: "DataFrame", layer: str, *parts: str,
                    masked: Iterable[str] | None = None, metadata: dict[str, Any] | None = None,
                    asset_key: AssetKey | None = None) -> MaterializeResult:
        """Replace a table's contents in one Delta commit and return its materialization."""
        stats = self.overwrite(df, layer, *parts)
        return self.table_result(stats, layer, *parts, masked=masked, metadata=metadata,
                                 asset_key=asset_key)
