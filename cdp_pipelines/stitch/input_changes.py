"""What changed in Stitch's input since the last preprocess, table by table.

The preprocess state keeps the id and version of each domain table it read. A table at
that version now is unchanged and is not read at all. A table with newer versions is read
through its Delta change data feed (only the rows those commits inserted, updated or
deleted: loads, events, privacy requests alike) when the feed recorded every one of them.
Any other table (its feed off or vacuumed, rewritten whole since, new to Stitch,
re-created, or no state) is read whole and each row's input hash compared with last run's
row of its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdp_pipelines.stitch.inputs import StitchTable, semantic_columns, table_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdp_pipelines.resources.delta_io import DeltaLake

KEYS = ["source", "pk"]
# Each unified input row's hash of all of its input.
INPUT_HASH = "_input_hash"
# What a change feed that cannot be read says: versions it did not record (the feed was
# off), files or log entries vacuumed since, a schema change it cannot read across.
_FEED_GONE = ("DELTA_MISSING_CHANGE_DATA", "FILE_NOT_EXIST", "CHANGE_DATA_FILE_NOT_FOUND",
              "VERSIONS_NOT_CONTIGUOUS", "DELTA_FILE_NOT_FOUND", "DELTA_CHANGE_DATA_FEED_")


@dataclass(frozen=True)
class InputChanges:
    rows: "DataFrame"  # unified input rows (with INPUT_HASH) of records new or changed
    # (source, pk) of last run's records whose row is gone; from a change feed also any
    # record both inserted and deleted since, which no table holds (deleting it is a no-op)
    gone: "DataFrame"
    reads: dict[str, str]  # table: how it was read ("unchanged", "change feed ...", ...)


def input_versions(lake: "DeltaLake", tables: list[StitchTable]) -> dict[str, dict[str, Any]]:
    """{table: {"id": Delta table id, "version": current version}} of every Stitch table."""
    return {t.name: dict(zip(("id", "version"), lake.identity("domain", t.name)))
            for t in tables}


def changes_since(lake: "DeltaLake", tables: list[StitchTable], raw: "DataFrame",
                  previous: "DataFrame", last: dict[str, dict[str, Any]] | None,
                  now: dict[str, dict[str, Any]]) -> InputChanges:
    """The records of `raw` (this run's unified input at versions `now`, with INPUT_HASH)
    that are new or changed since `previous` (last run's unified_preprocessed_raw, read
    from the tables at versions `last`), and the records of `previous` that are gone."""
    from functools import reduce

    from pyspark.sql import functions as F

    semantic = semantic_columns(tables)
    rows, gone, reads, whole = [], [], {}, []
    for table in tables:
        before, current = (last or {}).get(table.name), now[table.name]
        if before is None or before.get("id") != current["id"]:
            reads[table.name] = ("read whole: new to Stitch" if before is None
                                 else "read whole: the table was re-created")
        elif before["version"] == current["version"]:
            reads[table.name] = "unchanged"
            continue
        else:
            first, end = before["version"] + 1, current["version"]
            # A table rewritten whole (a custom table's overwrite) would show every row in
            # its feed: comparing each row's hash normalises only the changed ones.
            rewritten = lake.rewrites_whole("domain", table.name, first=first, last=end)
            found = (None if rewritten
                     else _from_change_feed(lake, table, semantic, first, end))
            if found is not None:
                rows.append(found[0])
                gone.append(found[1])
                reads[table.name] = f"change feed (versions {first}-{end})"
                continue
            reads[table.name] = (
                f"read whole: rewritten whole in version {rewritten[-1]}" if rewritten
                else f"read whole: no change feed for versions {first}-{end}")
        whole.append(table.name)
    if whole:
        # One comparison of every table read whole: each row whose input hash differs.
        mine = F.col("source").isin(whole)
        _, todo = reused_preprocessed(raw.where(mine), previous.where(mine))
        rows.append(todo)
        gone.append(previous.where(mine).select(*KEYS).join(
            raw.where(mine).select(*KEYS), KEYS, "left_anti"))
    if last is None or set(last) - set(now):
        # Records of tables no longer marked for Stitch.
        gone.append(previous.where(~F.col("source").isin(list(now))).select(*KEYS))
    columns = raw.columns
    empty = raw.limit(0)
    return InputChanges(
        rows=reduce(lambda a, b: a.unionByName(b), rows, empty).select(*columns),
        gone=reduce(lambda a, b: a.unionByName(b), gone, empty.select(*KEYS)),
        reads=reads)


def _from_change_feed(lake: "DeltaLake", table: StitchTable, semantic: list[str], first: int,
                      end: int) -> tuple["DataFrame", "DataFrame"] | None:
    """(rows now of the records versions `first`-`end` of `table` inserted or updated,
    with INPUT_HASH; (source, pk) of those they deleted), each record's last change
    winning, checkpointed; None when the change data feed did not record those versions."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    change, commit = "_change_type", "_commit_version"
    feed = lake.read_changes("domain", table.name, first=first, last=end).where(
        F.col(change) != "update_preimage")
    # In one commit a record may be deleted and inserted (an overwrite): the insert stands.
    latest = Window.partitionBy("pk").orderBy(F.col(commit).desc(),
                                              (F.col(change) == "delete").asc())
    try:
        last = (table_rows(feed, table, semantic, change, commit)
                .withColumn("_n", F.row_number().over(latest)).where("_n = 1")
                .drop("_n").localCheckpoint(eager=True))
    except (CapturedException, Py4JJavaError) as exc:
        if any(marker in str(exc) for marker in _FEED_GONE):
            return None
        raise
    kept = last.where(F.col(change) != "delete").drop(change, commit)
    return (with_input_hash(kept),
            last.where(F.col(change) == "delete").select(*KEYS))


def with_input_hash(raw: "DataFrame") -> "DataFrame":
    """`raw` (Stitch's unified input) with INPUT_HASH: a hash of all of a record's input."""
    from pyspark.sql import functions as F

    value = F.to_json(F.struct(*[F.col(c).cast("string").alias(c) for c in sorted(raw.columns)]))
    return raw.withColumn(INPUT_HASH, F.sha2(value, 256))


def reused_preprocessed(raw: "DataFrame", previous: "DataFrame") -> tuple["DataFrame",
                                                                          "DataFrame"]:
    """(rows of `previous`, last run's preprocessed table, whose input `raw` still holds
    unchanged; rows of `raw` to normalise: new or changed). Both carry INPUT_HASH; the
    rows of deleted records are in neither."""
    keys = [*KEYS, INPUT_HASH]
    current = raw.select(*keys)
    return (previous.join(current, keys, "left_semi").select(*previous.columns),
            raw.join(previous.select(*keys), keys, "left_anti").select(*raw.columns))
