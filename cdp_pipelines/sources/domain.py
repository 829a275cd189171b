"""Feeds into domain tables: type, quarantine, upsert by primary key.

A landed file is read as text, each field typed as declared, and every row that fails
(malformed, a value that does not parse, a missing required field or key) goes to the
quarantine table with the reason. Good rows are upserted (Delta MERGE) by primary key:
the newest version of a record wins, ordered by its ``updated-at`` field, else by
delivery order (when the file landed; a file never overrides rows from a file delivered
after it, whatever the dates in their names). Loading the same content twice changes
nothing: an ingest log records each file (path and checksum) once it is loaded, a file
whose checksum was loaded before under any name is logged as a duplicate delivery and not
read, and a batch that changes no row writes no new table version.

A file that cannot be read at all (empty, a truncated archive, not the declared format or
encoding) loads nothing, is quarantined whole with the reason and logged, and does not
block the files after it; delivering the complete file again loads it.

Rows of people deleted by a privacy request are dropped (or, after a ``delete_pii``, have
their PII nulled) before anything is written, by the salted hashes of the suppression
table (:mod:`cdp_pipelines.governance.privacy.suppression`); they are counted, per file in
the ingest log, never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cdp_pipelines.governance.privacy.suppression import apply_suppression
from cdp_pipelines.observability import Timings
from cdp_pipelines.resources.delta_io import DeltaLake, WriteStats
from cdp_pipelines.sources.couriers import LandedFile
from cdp_pipelines.sources.formats import (
    CORRUPT,
    LINE,
    READ_ERROR,
    UnreadableFileError,
    read_raw,
)
from cdp_pipelines.tenant.privacy import PrivacySpec
from cdp_pipelines.tenant.sources import FeedSpec, FieldSpec, FormatSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

QUARANTINE_TABLE = "_quarantine"
INGEST_LOG_TABLE = "ingest_log"
META_COLUMNS = ("_updated", "_source_file", "_file_date", "_row_hash", "_run_id")
_SPARK_TYPES = {
    "string": "string", "int": "int", "long": "bigint", "double": "double",
    "decimal": "decimal(18,2)", "boolean": "boolean", "date": "date", "timestamp": "timestamp",
}
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass
class LoadResult:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_quarantined: int = 0
    stats: WriteStats | None = None
    # Files not read: their content was loaded before under another name (file -> that name).
    duplicates: dict[str, str] = field(default_factory=dict)
    # Files that could not be read at all (file -> reason); quarantined whole.
    unreadable: dict[str, str] = field(default_factory=dict)
    # Rows read and rows quarantined, per file read.
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Rows of deleted people dropped, and rows whose PII a delete_pii request nulled.
    rows_suppressed: int = 0
    rows_pii_nulled: int = 0
    # Seconds of each part of the load.
    timings: Timings = field(default_factory=Timings)


def _typed(spec: FieldSpec, raw: "Column") -> "Column":
    from pyspark.sql import functions as F

    text = F.when(F.trim(raw) != "", F.trim(raw))
    if spec.type == "string":
        return text
    if spec.type == "boolean":
        low = F.lower(text)
        return F.when(low.isin(*_TRUE), F.lit(True)).when(low.isin(*_FALSE), F.lit(False))
    if spec.type == "date":
        return F.try_to_date(text, spec.format) if spec.format else F.try_to_date(text)
    if spec.type == "timestamp":
        return (F.try_to_timestamp(text, F.lit(spec.format)) if spec.format
                else F.try_to_timestamp(text))
    if spec.type in ("int", "long"):
        # Accept "12.0" from spreadsheets but not "12.5".
        as_dec = text.try_cast("decimal(38,6)")
        return F.when(as_dec == F.floor(as_dec), as_dec.try_cast(_SPARK_TYPES[spec.type]))
    return text.try_cast(_SPARK_TYPES[spec.type])


def type_rows(raw: "DataFrame", feed: FeedSpec) -> "DataFrame":
    """Add typed columns and a ``_reason`` (NULL for good rows) to a raw text frame."""
    from pyspark.sql import functions as F

    typed = [_typed(f, F.col(f"`{f.file_column}`")).alias(f.name) for f in feed.fields]
    # Raw columns are kept beside the typed ones for the quarantine record.
    df = raw.select(*[F.col(f"`{c}`").alias(f"_raw_{c}") for c in raw.columns], *typed)
    reasons = [F.when(F.col(f"_raw_{CORRUPT}").isNotNull(),
                      F.coalesce(F.col(f"_raw_{READ_ERROR}"),
                                 F.lit("malformed record: could not be parsed")))]
    for f in feed.fields:
        raw_col = F.col(f"`_raw_{f.file_column}`")
        has_text = raw_col.isNotNull() & (F.trim(raw_col) != "")
        if f.type != "string":
            reasons.append(F.when(
                has_text & F.col(f.name).isNull(),
                F.concat(F.lit(f"field {f.name}: cannot read '"),
                         F.substring(raw_col, 1, 60),
                         F.lit(f"' as {f.type}" + (f" ({f.format})" if f.format else ""))),
            ))
        if f.name in feed.primary_key:
            reasons.append(F.when(~has_text, F.lit(f"primary key field {f.name} is missing")))
        elif not f.nullable:
            reasons.append(F.when(~has_text, F.lit(f"required field {f.name} is missing")))
    return df.withColumn("_reason", F.concat_ws("; ", *reasons)).withColumn(
        "_reason", F.when(F.col("_reason") != "", F.col("_reason")))


def _record_json(raw_columns: list[str]) -> "Column":
    from pyspark.sql import functions as F

    return F.to_json(F.struct(*[F.col(f"`_raw_{c}`").alias(c) for c in raw_columns]))


def load_files(lake: DeltaLake, feed: FeedSpec, fmt: FormatSpec, files: list[LandedFile],
               run_id: str, privacy: PrivacySpec | None = None) -> LoadResult:
    """Load the given landed files (skipping ones the ingest log has) into the feed's table."""
    from pyspark.sql import functions as F

    spark = lake.session
    loaded = _loaded_files(lake, feed.name)
    result = LoadResult()
    todo, skipped = [], []
    by_checksum = {sha: name for name, sha in loaded}
    for landed in files:
        if (landed.relpath, landed.sha256) in loaded:
            continue
        if landed.sha256 in by_checksum:
            result.duplicates[landed.relpath] = by_checksum[landed.sha256]
            skipped.append(landed)
            continue
        by_checksum[landed.sha256] = landed.relpath
        todo.append(landed)

    frames, readable = [], []
    for landed in todo:
        delivered = datetime.fromtimestamp(landed.path.stat().st_mtime)
        try:
            with result.timings.part("prepare"):
                raw = read_raw(spark, landed.path, fmt, feed)
        except UnreadableFileError as exc:
            result.unreadable[landed.relpath] = str(exc)
            continue
        readable.append(landed)
        frames.append(type_rows(raw, feed)
                      .withColumn("_source_file", F.lit(landed.relpath))
                      .withColumn("_file_sha", F.lit(landed.sha256))
                      .withColumn("_file_date", F.lit(landed.file_date or delivered)
                                  .cast("timestamp"))
                      .withColumn("_delivered", F.lit(delivered).cast("timestamp"))
                      .withColumn("_line", F.monotonically_increasing_id()))
    result.files = [f.relpath for f in readable]
    if result.unreadable:
        _quarantine_files(lake, feed, [f for f in todo if f.relpath in result.unreadable],
                          result.unreadable, run_id)
    if frames:
        _load_rows(lake, feed, frames, result, run_id, privacy)
    with result.timings.part("ingest_log"):
        _log_files(lake, feed.name, readable, skipped,
                   [f for f in todo if f.relpath in result.unreadable], result, run_id)
    return result


def _load_rows(lake: DeltaLake, feed: FeedSpec, frames: list["DataFrame"], result: LoadResult,
               run_id: str, privacy: PrivacySpec | None) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    timings = result.timings
    with timings.part("suppression"):
        rows, dropped, result.rows_pii_nulled = apply_suppression(
            lake, feed, rows, privacy, per="_source_file")
        result.rows_suppressed = sum(dropped.values())
    raw_columns = [f.file_column for f in feed.fields] + [CORRUPT]
    value_cols = [f.name for f in feed.fields]
    # Kept in memory for the passes below: the typed values, and the raw text only of the
    # rows that go to quarantine (as the JSON record it keeps), not of every row.
    rows = rows.select(
        *value_cols, "_reason",
        F.when(F.col("_reason").isNotNull(), _record_json(raw_columns)).alias("_record"),
        F.col(f"_raw_{LINE}").alias("_raw_line"), "_source_file", "_file_sha", "_file_date",
        "_delivered", "_line",
    ).cache()
    try:
        with timings.part("read"):
            # Counted as the rows are cached (each file read once): the rows read are the
            # ones kept and the ones suppression dropped.
            kept = {r["_source_file"]: (r["rows"], r["bad"] or 0) for r in rows.groupBy(
                "_source_file").agg(F.count("*").alias("rows"), F.sum(
                    F.col("_reason").isNotNull().cast("int")).alias("bad")).collect()}
            result.counts = {f: (kept.get(f, (0, 0))[0] + dropped.get(f, 0),
                                 kept.get(f, (0, 0))[1]) for f in kept.keys() | dropped.keys()}
            result.rows_read = sum(n for n, _ in result.counts.values())
            result.rows_quarantined = sum(n for _, n in result.counts.values())
        bad = rows.where(F.col("_reason").isNotNull())
        good = rows.where(F.col("_reason").isNull())

        # Each row's hash of its values; rows equal to the stored version of their key
        # change nothing, so only keys with a differing row go on to the window.
        hashed = good.withColumn("_row_hash", _row_hash(value_cols))
        with timings.part("compare"):
            candidates = _changed_keys_rows(lake, feed, hashed)
        if candidates is not None:
            # Without an updated-at field, delivery order decides (not the date in a name).
            order_ts = (F.coalesce(F.col(feed.updated_at).cast("timestamp"),
                                   F.col("_delivered"))
                        if feed.updated_at else F.col("_delivered"))
            latest = Window.partitionBy(*feed.primary_key).orderBy(
                order_ts.desc(), F.col("_delivered").desc(), F.col("_line").desc())
            with timings.part("dedupe"):
                # A batch holding one row per key (the usual delivery) needs no window:
                # finding a repeated key is a hash aggregate, the window a sort.
                repeated = not candidates.groupBy(*feed.primary_key).count().where(
                    "count > 1").isEmpty()
            if repeated:
                candidates = candidates.withColumn(
                    "_rank", F.row_number().over(latest)).where("_rank = 1")
            changes = (
                candidates.select(*value_cols, order_ts.alias("_updated"), F.col("_source_file"),
                        F.col("_file_date"), F.col("_row_hash"), F.lit(run_id).alias("_run_id"))
            )
            # Replace a stored row only with a newer, different version of it.
            with timings.part("merge"):
                result.stats = lake.merge(
                    changes, "domain", feed.name, keys=feed.primary_key,
                    update_condition="s._row_hash <> t._row_hash AND s._updated >= t._updated",
                )
        quarantined = bad.select(
            F.lit(feed.name).alias("feed"),
            F.col("_source_file").alias("source_file"),
            F.col("_raw_line").alias("line"),
            F.col("_file_sha").alias("file_sha256"),
            F.col("_reason").alias("reason"),
            F.col("_record").alias("record"),
            F.lit(run_id).alias("run_id"),
            F.current_timestamp().alias("quarantined_at"),
        ).withColumn("record_hash", F.sha2(F.concat_ws("|", "source_file", "record"), 256))
        with timings.part("quarantine"):
            if result.rows_quarantined:
                lake.merge(quarantined, "domain", QUARANTINE_TABLE,
                           keys=("feed", "file_sha256", "record_hash"),
                           update_condition="false")
    finally:
        rows.unpersist()


def _row_hash(columns: list[str]) -> "Column":
    """A 128-bit hash of a row's typed values, as 32 hex digits: two xxhash64 of the values
    and their null mask (so that ``(null, 1)`` and ``(1, null)`` differ). It only tells an
    old version of a key from a new one, so it needs no cryptographic strength, and it
    costs a fraction of SHA-256 over each row's JSON."""
    from pyspark.sql import functions as F

    nulls = F.concat(*[F.when(F.col(c).isNull(), F.lit("1")).otherwise(F.lit("0"))
                       for c in columns])
    first = F.xxhash64(nulls, *columns)
    second = F.xxhash64(F.lit("cdp:row"), nulls, *reversed(columns))
    return F.format_string("%016x%016x", first, second)


def _changed_keys_rows(lake: DeltaLake, feed: FeedSpec,
                       hashed: "DataFrame") -> "DataFrame | None":
    """The batch's rows of every key that is new or has a row differing from its stored
    version (all that key's rows, so the window still sees each version), or None when
    every row equals the stored row of its key: a batch that changes nothing writes no new
    table version (time travel shows real changes only), and a re-load of unchanged rows
    costs one join, not a sort of the batch."""
    if not lake.exists("domain", feed.name):
        return hashed
    keys = list(feed.primary_key)
    stored = lake.read("domain", feed.name).select(*keys, "_row_hash")
    same = [hashed[k].eqNullSafe(stored[k]) for k in keys]
    differing = hashed.join(stored, [*same, hashed["_row_hash"] == stored["_row_hash"]],
                            "left_anti").select(*keys).distinct()
    if differing.isEmpty():
        return None
    return hashed.join(differing, [hashed[k].eqNullSafe(differing[k]) for k in keys],
                       "left_semi")


def _quarantine_files(lake: DeltaLake, feed: FeedSpec, files: list[LandedFile],
                      reasons: dict[str, str], run_id: str) -> None:
    """One quarantine row per unreadable file: nothing of it is loaded."""
    from pyspark.sql import functions as F

    frame = lake.session.createDataFrame(
        [(feed.name, f.relpath, None, f.sha256, f"unreadable file, nothing loaded: "
          f"{reasons[f.relpath]}", "", run_id) for f in files],
        "feed string, source_file string, line long, file_sha256 string, reason string, "
        "record string, run_id string",
    ).withColumn("quarantined_at", F.current_timestamp()).withColumn(
        "record_hash", F.sha2(F.concat_ws("|", "source_file", "record"), 256))
    lake.merge(frame, "domain", QUARANTINE_TABLE, keys=("feed", "file_sha256", "record_hash"),
               update_condition="false")


def _loaded_files(lake: DeltaLake, feed_name: str) -> set[tuple[str, str]]:
    """(file, sha256) of every file the feed's ingest log holds, whatever its status."""
    if not lake.exists("_system", INGEST_LOG_TABLE):
        return set()
    log = lake.read("_system", INGEST_LOG_TABLE)
    rows = log.where(log["feed"] == feed_name).select("file", "sha256").collect()
    return {(r["file"], r["sha256"]) for r in rows}


def _log_files(lake: DeltaLake, feed_name: str, readable: list[LandedFile],
               duplicates: list[LandedFile], unreadable: list[LandedFile], result: LoadResult,
               run_id: str) -> None:
    from pyspark.sql import functions as F

    entries = [(f.relpath, f.sha256, f.size, *map(int, result.counts.get(f.relpath, (0, 0))),
                "loaded", None) for f in readable]
    entries += [(f.relpath, f.sha256, f.size, 0, 0, "duplicate",
                 f"same content as {result.duplicates[f.relpath]}") for f in duplicates]
    entries += [(f.relpath, f.sha256, f.size, 0, 0, "unreadable", result.unreadable[f.relpath])
                for f in unreadable]
    if not entries:
        return
    log = lake.session.createDataFrame(
        [(feed_name, *e, run_id) for e in entries],
        "feed string, file string, sha256 string, bytes long, rows long, rows_quarantined long,"
        " status string, note string, run_id string",
    ).withColumn("loaded_at", F.current_timestamp())
    # Written last, once a file's rows are in: a file in the log is never read again.
    (log.write.format("delta").mode("append").option("mergeSchema", "true")
     .save(lake.path_for_write("_system", INGEST_LOG_TABLE)))
