"""The unified Stitch input: every Stitch table's records mapped onto semantic columns.

Columns come from the feeds' semantic tags, never from tenant code: a field tagged
``email`` becomes ``email``, ``fk-<ns>`` becomes ``fk_<ns>``, and so on. A feed with two
fields of one tag contributes the first. ``source`` is the feed (domain table) name,
``source_system`` the tenant source it belongs to, ``pk`` its primary key (joined with
``|`` when compound).

Event sources take part through their identifies and aliases tables: ``user_id`` and
``anonymous_id`` (an alias's ``previous_id``) are exact links (``fk_user``,
``fk_anonymous``), and identify traits are tagged like feed fields. So a browser that
identifies later, or is aliased to a user, joins that user's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdp_pipelines.tenant.events import ANONYMOUS_ID_TAG, USER_ID_TAG, EventSourceSpec
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import STITCH_TAGS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

from cdp_pipelines.resources.delta_io import DeltaLake

PK_SEPARATOR = "|"


@dataclass(frozen=True)
class StitchTable:
    name: str
    source_system: str
    primary_key: tuple[str, ...]
    # semantic column -> table column
    columns: dict[str, str]


def semantic_column(tag: str) -> str:
    return tag.replace("-", "_")


def _is_stitch_tag(tag: str) -> bool:
    return tag in STITCH_TAGS or tag.startswith("fk-")


def event_stitch_tables(source: EventSourceSpec) -> list[StitchTable]:
    """The identifies and aliases tables of an event source, as Stitch reads them."""
    identifies = {semantic_column(USER_ID_TAG): "user_id",
                  semantic_column(ANONYMOUS_ID_TAG): "anonymous_id"}
    for _, column, tag in source.identify_columns:
        if _is_stitch_tag(tag):
            identifies.setdefault(semantic_column(tag), column)
    aliases = {semantic_column(USER_ID_TAG): "user_id",
               semantic_column(ANONYMOUS_ID_TAG): "previous_id"}
    return [StitchTable(source.table("identifies"), source.name, ("message_id",), identifies),
            StitchTable(source.table("aliases"), source.name, ("message_id",), aliases)]


def stitch_tables(config: Tenant) -> list[StitchTable]:
    tables = []
    for source, feed in config.feeds:
        if not feed.stitch:
            continue
        columns: dict[str, str] = {}
        for field in feed.fields:
            for tag in field.tags:
                if tag in STITCH_TAGS or tag.startswith("fk-"):
                    columns.setdefault(semantic_column(tag), field.name)
        tables.append(StitchTable(feed.name, source.name, feed.primary_key, columns))
    for table in config.custom_domain_tables:
        if table.stitch:
            columns = {semantic_column(tag): column for column, tags in table.tags.items()
                       for tag in tags if tag in STITCH_TAGS or tag.startswith("fk-")}
            tables.append(StitchTable(table.name, "custom", table.primary_key, columns))
    for source in config.event_sources:
        if source.stitch:
            tables += event_stitch_tables(source)
    return tables


def pk_column(primary_key: tuple[str, ...]):
    from pyspark.sql import functions as F

    if len(primary_key) == 1:
        return F.col(primary_key[0]).cast("string")
    return F.concat_ws(PK_SEPARATOR, *[F.col(k).cast("string") for k in primary_key])


def semantic_columns(tables: list[StitchTable]) -> list[str]:
    """The unified input's semantic columns: every Stitch table's, sorted."""
    return sorted({c for t in tables for c in t.columns})


def table_rows(df: "DataFrame", table: StitchTable, semantic: list[str],
               *extra: str) -> "DataFrame":
    """`df` (rows of `table`'s domain table, plus the `extra` columns kept as they are) as
    unified input rows: source, source_system, pk, every `semantic` column as a string,
    _updated. Rows without a primary key are left out."""
    from pyspark.sql import functions as F

    updated = F.col("_updated") if "_updated" in df.columns else F.current_timestamp()
    return df.select(
        F.lit(table.name).alias("source"),
        F.lit(table.source_system).alias("source_system"),
        pk_column(table.primary_key).alias("pk"),
        *[(F.col(table.columns[c]).cast("string") if c in table.columns
           else F.lit(None).cast("string")).alias(c) for c in semantic],
        updated.alias("_updated"),
        *extra,
    ).where(F.col("pk").isNotNull())


def unified_input(lake: DeltaLake, tables: list[StitchTable],
                  versions: dict[str, int] | None = None) -> "DataFrame":
    """One frame of every Stitch table's records, all semantic columns as strings; each
    table as it was at its version in `versions` when given."""
    if not tables:
        raise ValueError("no domain table is marked for Stitch (feeds need `stitch: true`)")
    semantic = semantic_columns(tables)
    frames = [table_rows(lake.read("domain", t.name, version=(versions or {}).get(t.name)),
                         t, semantic) for t in tables]
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out
