"""Closed landing files of an event source into its Delta domain tables.

Tables (layer ``domain``, named ``<source>_<kind>``):

- ``events``: every message that passed the tracking plan, of every type, with
  ``violations`` for the ones that passed flagged;
- ``identifies``: identify calls, Segment's reserved traits (and the plan's tagged ones)
  as columns for Stitch;
- ``aliases``: alias calls, ``previous_id`` becoming ``user_id``;
- ``failed_events``: blocked messages (``action = blocked``, the message in ``record``)
  and the values omitted from passed ones (``action = omitted``), each with its rules
  and reasons.

Rows are inserted by ``message_id`` and never replaced: a message sent twice (a client's
retry after a lost acknowledgement) is stored once, as first received. A repeat is looked
for among the rows received up to :data:`DEDUP_WINDOW` before the load's earliest message
(Segment promises its deduplication over 24 hours; client libraries retry for minutes), so
a load reads the keys of recent files, not of the whole table. A message of a person a
privacy request deleted (an identifier of it hashes to one in the suppression table, see
:func:`record_identifiers`) is dropped before any table is written, and counted, never
shown; a ``delete_pii`` drops it too, as the privacy step drops it from the landing
files (a message has no field list to null by). A line that is not
a collector record (a file written by something else, or damaged) goes to
``domain/_quarantine`` with the reason. Each file is logged in ``_system/ingest_log`` once
loaded and never read again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cdp_pipelines.events.journal import closed_files
from cdp_pipelines.governance.privacy.suppression import suppressed_keys
from cdp_pipelines.observability import Timings
from cdp_pipelines.resources.delta_io import DeltaLake, WriteStats
from cdp_pipelines.resources.lake_files import LakePath
from cdp_pipelines.sources.couriers import sha256_of
from cdp_pipelines.sources.domain import INGEST_LOG_TABLE, QUARANTINE_TABLE
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.privacy import PrivacySpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RECORD_SCHEMA = (
    "messageId string, type string, event string, userId string, anonymousId string, "
    "groupId string, previousId string, writeKey string, receivedAt string, sentAt string, "
    "originalTimestamp string, timestamp string, status string, "
    "violations array<struct<rule: string, path: string, reason: string>>, "
    # Objects read as strings keep their JSON text.
    "omitted string, message string"
)
_MESSAGE_SCHEMA = "properties string, traits string, context string"
DEDUP_WINDOW = timedelta(days=7)
_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
NOT_A_RECORD = "not a collector record: unreadable JSON, or no messageId, type or receivedAt"


@dataclass
class EventLoad:
    """What one load did: files, rows per table, and tracking-plan counts per event."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    duplicates: int = 0
    quarantined: int = 0
    # Messages of deleted people, dropped (by the suppression table).
    suppressed: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    # The write of each table that changed.
    stats: dict[str, WriteStats] = field(default_factory=dict)
    # event (or call type) -> {"events", "violating", "blocked", "omitted"}
    plan_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    remaining: int = 0
    # Seconds of each part of the load (reading, each table's write, the ingest log).
    timings: Timings = field(default_factory=Timings)


def pending_files(lake: DeltaLake, source: EventSourceSpec, landing: LakePath,
                  limit: int, loaded: set[str] | None = None) -> tuple[list[LakePath], int]:
    """The oldest closed files the ingest log does not have (at most ``limit``), and how
    many more wait. ``loaded``: the names known loaded, instead of reading the log (a
    long-lived loader keeps them; a file loaded twice is still stored once)."""
    if loaded is None:
        loaded = loaded_files(lake, source)
    waiting = [p for p in closed_files(landing) if p.name not in loaded]
    return waiting[:limit], max(0, len(waiting) - limit)


def loaded_files(lake: DeltaLake, source: EventSourceSpec) -> set[str]:
    """The names of the source's files the ingest log has."""
    if not lake.exists("_system", INGEST_LOG_TABLE):
        return set()
    log = lake.read("_system", INGEST_LOG_TABLE)
    return {r["file"] for r in log.where(log["feed"] == source.table("events"))
            .select("file").collect()}


def read_records(lake: DeltaLake, files: list[LakePath]) -> "DataFrame":
    """Every line of ``files`` parsed, with ``_file`` and ``_line_text``."""
    from pyspark.sql import functions as F

    text = lake.session.read.text([str(p) for p in files])
    return text.select(
        F.from_json("value", RECORD_SCHEMA).alias("r"), F.col("value").alias("_line_text"),
        F.element_at(F.split(F.col("_metadata.file_path"), "/"), -1).alias("_file"),
    ).select("r.*", "_line_text", "_file")


def record_identifiers(source: EventSourceSpec,
                       match_keys: tuple[str, ...] = ()) -> list[tuple[str, "Column"]]:
    """(kind, value) of a collector record's identifiers, as the suppression table hashes
    them: the Segment ids (a previousId may be either), the email, phone and configured
    keys among the traits (an identify's, or any call's in its context), the address
    group, and an identify's or alias's record key in Stitch (``<table>|<messageId>``)."""
    from pyspark.sql import functions as F

    def trait(path: str) -> "Column":
        return F.get_json_object("message", f"$.{path}")

    out = [("user_id", F.col("userId")), ("anonymous_id", F.col("anonymousId")),
           ("user_id", F.col("previousId")), ("anonymous_id", F.col("previousId"))]
    for path, _, tag in source.identify_columns:
        if tag in ("email", "phone") or tag in match_keys:
            out += [(tag.replace("-", "_"), trait(f"{where}.{path}"))
                    for where in ("traits", "context.traits")]
    street, postal = trait("traits.address.street"), trait("traits.address.postalCode")
    out.append(("address", F.when(street.isNotNull() & postal.isNotNull(),
                                  F.concat_ws("|", street, postal))))
    record = F.when(F.col("type") == "identify", F.lit(f"{source.table('identifies')}|")) \
        .when(F.col("type") == "alias", F.lit(f"{source.table('aliases')}|"))
    out.append(("record", F.concat(record, F.col("messageId"))))
    return out


def _ts(column: str):
    from pyspark.sql import functions as F

    return F.col(column).cast("timestamp")


def event_rows(records: "DataFrame", run_id: str) -> "DataFrame":
    """Passed messages as rows of the events table."""
    from pyspark.sql import functions as F

    message = F.from_json("message", _MESSAGE_SCHEMA)
    return records.where(F.col("status") == "accepted").select(
        F.col("messageId").alias("message_id"), "type", "event",
        F.col("userId").alias("user_id"), F.col("anonymousId").alias("anonymous_id"),
        F.col("groupId").alias("group_id"), F.col("previousId").alias("previous_id"),
        message["properties"].alias("properties"), message["traits"].alias("traits"),
        message["context"].alias("context"),
        _ts("timestamp").alias("timestamp"), _ts("originalTimestamp").alias("original_timestamp"),
        _ts("sentAt").alias("sent_at"), _ts("receivedAt").alias("received_at"),
        "violations", F.col("writeKey").alias("write_key"),
        F.col("_file").alias("_source_file"), F.lit(run_id).alias("_run_id"),
    )


def identify_rows(events: "DataFrame", source: EventSourceSpec) -> "DataFrame":
    """Identify calls, each tagged trait a column (text, as sent)."""
    from pyspark.sql import functions as F

    return events.where(F.col("type") == "identify").select(
        "message_id", "user_id", "anonymous_id",
        *[F.get_json_object("traits", f"$.{path}").alias(column)
          for path, column, _ in source.identify_columns],
        "traits", "timestamp", "received_at", "_source_file", "_run_id",
    )


def alias_rows(events: "DataFrame") -> "DataFrame":
    from pyspark.sql import functions as F

    return events.where(F.col("type") == "alias").select(
        "message_id", "previous_id", "user_id", "timestamp", "received_at", "_source_file",
        "_run_id")


def failed_rows(records: "DataFrame", run_id: str) -> "DataFrame":
    """Blocked messages whole, and what was omitted from passed ones."""
    from pyspark.sql import functions as F

    blocked = F.col("status") == "blocked"
    return records.where(blocked | F.col("omitted").isNotNull()).select(
        F.col("messageId").alias("message_id"),
        F.when(blocked, F.lit("blocked")).otherwise(F.lit("omitted")).alias("action"),
        "type", "event", F.col("userId").alias("user_id"),
        F.col("anonymousId").alias("anonymous_id"),
        F.transform("violations", lambda v: v["rule"]).alias("rules"), "violations",
        F.when(blocked, F.col("message")).otherwise(F.col("omitted")).alias("record"),
        _ts("timestamp").alias("timestamp"), _ts("receivedAt").alias("received_at"),
        F.col("_file").alias("_source_file"), F.lit(run_id).alias("_run_id"),
    )


def message_counts(records: "DataFrame") -> list[dict]:
    """Messages per event name (or call type for untitled calls), type and status, with
    how many violate the plan and had values omitted: one Spark job for every count."""
    from pyspark.sql import functions as F

    return [r.asDict() for r in records.groupBy(
        F.coalesce("event", "type").alias("name"), "type", "status").agg(
        F.count("*").alias("events"),
        F.sum((F.size("violations") > 0).cast("int")).alias("violating"),
        F.sum(F.col("omitted").isNotNull().cast("int")).alias("omitted"),
        # As text in the session's time zone, the one the MERGE condition is read in.
        F.date_format(F.min(_ts("receivedAt")), _TIME_FORMAT).alias("earliest"),
    ).collect()]


def plan_counts(counts: list[dict]) -> dict[str, dict[str, int]]:
    """Per event name: messages, violating ones, blocked ones, ones with values omitted."""
    out: dict[str, dict[str, int]] = {}
    for row in counts:
        entry = out.setdefault(row["name"], dict.fromkeys(
            ("events", "violating", "blocked", "omitted"), 0))
        entry["events"] += row["events"]
        entry["violating"] += row["violating"] or 0
        entry["omitted"] += row["omitted"] or 0
        entry["blocked"] += row["events"] if row["status"] == "blocked" else 0
    return out


def _table_sizes(counts: list[dict]) -> dict[str, int]:
    """Rows each table gets from this batch (before deduplication against it)."""
    passed = [r for r in counts if r["status"] == "accepted"]
    return {
        "events": sum(r["events"] for r in passed),
        "identifies": sum(r["events"] for r in passed if r["type"] == "identify"),
        "aliases": sum(r["events"] for r in passed if r["type"] == "alias"),
        "failed_events": sum(r["events"] if r["status"] == "blocked" else r["omitted"] or 0
                             for r in counts),
    }


def load_events(lake: DeltaLake, source: EventSourceSpec, landing: LakePath, run_id: str,
                max_files: int = 200, loaded: set[str] | None = None,
                privacy: PrivacySpec | None = None) -> EventLoad:
    """Load the source's closed landing files not loaded before (oldest first, at most
    ``max_files``) into its tables. ``loaded``, if given, is the set of file names known
    loaded (see :func:`pending_files`); the files of this load are added to it.
    ``privacy``: the tenant's privacy settings (the salt the suppression table's hashes
    need, the configured match keys)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    files, remaining = pending_files(lake, source, landing, max_files, loaded)
    result = EventLoad(files=[p.name for p in files], remaining=remaining)
    if not files:
        # Empty tables on the first load, so Stitch and the rest find them before any
        # event has arrived.
        empty = lake.session.createDataFrame(
            [], f"{RECORD_SCHEMA}, _line_text string, _file string")
        _load_unique(lake, source, empty, run_id, result)
        return result
    records = read_records(lake, files).cache()
    try:
        valid = (F.col("messageId").isNotNull() & F.col("type").isNotNull()
                 & F.col("receivedAt").isNotNull())
        with result.timings.part("read"):
            per_file = {r["_file"]: (r["lines"], r["bad"] or 0) for r in records.groupBy(
                "_file").agg(F.count("*").alias("lines"),
                             F.sum((~valid).cast("int")).alias("bad")).collect()}
        result.lines = sum(lines for lines, _ in per_file.values())
        bad = sum(bad for _, bad in per_file.values())
        result.quarantined = _quarantine(lake, source, records.where(~valid), run_id) if bad else 0
        first = Window.partitionBy("messageId").orderBy("receivedAt", "_file")
        unique = (records.where(valid).withColumn("_n", F.row_number().over(first))
                  .where("_n = 1").drop("_n")).cache()
        try:
            with result.timings.part("suppression"):
                suppressed = suppressed_keys(
                    lake, unique, "messageId",
                    record_identifiers(source, privacy.match_keys if privacy else ()), privacy)
            result.suppressed = len(suppressed)
            # Few ids (only suppressed messages come back): a filter, not another join.
            kept = unique.where(~F.col("messageId").isin(sorted(suppressed))) \
                if suppressed else unique
            _load_unique(lake, source, kept, run_id, result)
        finally:
            unique.unpersist()
    finally:
        records.unpersist()
    with result.timings.part("ingest_log"):
        _log_files(lake, source, files, per_file, run_id)
    if loaded is not None:
        loaded.update(p.name for p in files)
    return result


def _load_unique(lake: DeltaLake, source: EventSourceSpec, unique: "DataFrame", run_id: str,
                 result: EventLoad) -> None:
    counts = message_counts(unique)
    result.duplicates = (result.lines - result.quarantined - result.suppressed
                         - sum(r["events"] for r in counts))
    result.plan_counts = plan_counts(counts)
    sizes = _table_sizes(counts)
    within = _dedup_window([r["earliest"] for r in counts])
    # The messages' JSON is parsed once for the events, identifies and aliases tables
    # (each MERGE reads its source twice: to find new keys, then to write them).
    events = event_rows(unique, run_id).cache()
    try:
        with result.timings.part("parse"):
            events.count()
        _write_tables(lake, source, {
            "events": events, "identifies": identify_rows(events, source),
            "aliases": alias_rows(events), "failed_events": failed_rows(unique, run_id)},
            sizes, within, result)
    finally:
        events.unpersist()


def _write_tables(lake: DeltaLake, source: EventSourceSpec, tables: dict[str, "DataFrame"],
                  sizes: dict[str, int], within: str | None, result: EventLoad) -> None:
    result.inserted = dict.fromkeys(tables, 0)

    def write(kind: str) -> None:
        keys = ("message_id", "action") if kind == "failed_events" else ("message_id",)
        with result.timings.part(kind):
            stats = _insert_new(lake, tables[kind], source.table(kind), keys,
                                empty=not sizes[kind], within=within)
        result.inserted[kind] = int(stats.metrics.get("numTargetRowsInserted", 0)) if stats else 0
        if stats is not None:
            result.stats[kind] = stats

    # The tables are independent: their MERGEs run side by side (Spark schedules the jobs
    # of several threads; each Delta commit is its own), so a load takes about as long as
    # its largest table rather than the sum.
    with ThreadPoolExecutor(max_workers=len(tables), thread_name_prefix="event-load") as pool:
        for future in [pool.submit(write, kind) for kind in tables]:
            future.result()


def _dedup_window(earliest: list[str | None]) -> str | None:
    """The MERGE's condition on stored rows: received within :data:`DEDUP_WINDOW` before
    the batch's earliest message (or without a time, which no statistics can rule out)."""
    times = [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in earliest if t]
    if not times:
        return None
    since = (min(times) - DEDUP_WINDOW).strftime("%Y-%m-%d %H:%M:%S")
    return f"t.received_at >= TIMESTAMP'{since}' OR t.received_at IS NULL"


def _insert_new(lake: DeltaLake, rows: "DataFrame", table: str, keys: tuple[str, ...],
                empty: bool, within: str | None = None) -> WriteStats | None:
    """Insert the rows whose keys the table does not have (rows are never replaced);
    None when nothing was written."""
    from pyspark.sql import functions as F

    rows = rows.withColumn("_loaded_at", F.current_timestamp())
    if empty:
        if lake.exists("domain", table):
            return None
        # An empty table, so that downstream readers find it from the first load.
        return lake.overwrite(rows, "domain", table)
    return lake.insert_new(rows, "domain", table, keys=keys, within=within)


def _quarantine(lake: DeltaLake, source: EventSourceSpec, bad: "DataFrame", run_id: str) -> int:
    """Lines that are not collector records, to the quarantine table files use."""
    from pyspark.sql import functions as F

    rows = bad.select(
        F.lit(source.table("events")).alias("feed"), F.col("_file").alias("source_file"),
        F.lit(None).cast("long").alias("line"), F.lit(None).cast("string").alias("file_sha256"),
        F.lit(NOT_A_RECORD).alias("reason"), F.col("_line_text").alias("record"),
        F.lit(run_id).alias("run_id"), F.current_timestamp().alias("quarantined_at"),
    ).withColumn("record_hash", F.sha2(F.concat_ws("|", "source_file", "record"), 256))
    count = rows.count()
    if count:
        lake.insert_new(rows, "domain", QUARANTINE_TABLE,
                        keys=("feed", "file_sha256", "record_hash"))
    return count


def _log_files(lake: DeltaLake, source: EventSourceSpec, files: list[LakePath],
               per_file: dict[str, tuple[int, int]], run_id: str) -> None:
    """Written last: a logged file has all its rows in, and is never read again."""
    from pyspark.sql import functions as F

    log = lake.session.createDataFrame(
        [(source.table("events"), p.name, sha256_of(p), p.stat().st_size,
          *per_file.get(p.name, (0, 0)), "loaded", None, run_id) for p in files],
        "feed string, file string, sha256 string, bytes long, rows long, rows_quarantined long,"
        " status string, note string, run_id string",
    ).withColumn("loaded_at", F.current_timestamp())
    (log.write.format("delta").mode("append").option("mergeSchema", "true")
     .save(lake.path_for_write("_system", INGEST_LOG_TABLE)))
