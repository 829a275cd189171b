"""Deterministic edges: records sharing an exact strong identifier, guarded.

All identifiers are handled as one long frame (record_id, id_column, key), so a run asks
Spark for one window and one self-join, not one per identifier. An incremental run
(`refreshed_deterministic_edges`) only looks again at the identifier values a new or
changed record holds, and at those too widely shared last run; every other value has the
same holders as last run, or fewer, so its edges are last run's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from cdp_pipelines.stitch.matching.guard import contradiction_sql, guard_columns
from cdp_pipelines.stitch.matching.records import strong_id_columns, with_record_id
from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

# A deterministic identifier shared by more records than this is not trusted pairwise:
# it would create a quadratic number of edges and is almost certainly a shared/bad value
# that the blocklist stage missed.
DEFAULT_MAX_DETERMINISTIC_GROUP = 100
EDGES_SCHEMA = "record_id_l string, record_id_r string, match_key string"
OVERSIZED_SCHEMA = "id_column string, key string"


class DeterministicEdges(NamedTuple):
    edges: "DataFrame"  # record_id_l, record_id_r, match_key
    oversized: "DataFrame"  # (id_column, key) shared by too many records, not used


def _keyed(df: "DataFrame", id_cols: list[str]) -> "DataFrame":
    """(record_id, id_column, key, guard columns): a row per record and identifier it
    holds; ids are compared as trimmed strings so a numeric fk and its string form agree."""
    from pyspark.sql import functions as F

    guard_cols = guard_columns(df.columns)
    pieces = [df.select("record_id", F.lit(col).alias("id_column"),
                        F.trim(F.col(col).cast("string")).alias("key"), *guard_cols)
              for col in id_cols]
    keyed = pieces[0]
    for piece in pieces[1:]:
        keyed = keyed.unionByName(piece)
    return keyed.where(F.col("key").isNotNull() & (F.col("key") != ""))


def _sized(keyed: "DataFrame", spark: "SparkSession", max_group_size: int
           ) -> tuple["DataFrame", "DataFrame"]:
    """(rows of `keyed` whose value is held by at most `max_group_size` records,
    the values held by more as a small frame); the latter are logged."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counted = keyed.withColumn(
        "_n", F.count(F.lit(1)).over(Window.partitionBy("id_column", "key")))
    oversized = (counted.where(F.col("_n") > max_group_size)
                 .select("id_column", "key").distinct().collect())
    by_column: dict[str, list[str]] = {}
    for row in sorted(oversized):
        by_column.setdefault(row.id_column, []).append(row.key)
    for col, keys in by_column.items():
        logger.warning(
            "deterministic edges: %d value(s) of %s are shared by more than %d records "
            "and were not used (examples: %s); consider adding them to the blocklist",
            len(keys), col, max_group_size, keys[:5])
    return (counted.where(F.col("_n") <= max_group_size).drop("_n"),
            spark.createDataFrame([tuple(r) for r in oversized], OVERSIZED_SCHEMA))


def _pairs(keyed: "DataFrame", guard: str) -> "DataFrame":
    """(record_id_l, record_id_r, id_column) of records sharing a key, l < r, unguarded."""
    from pyspark.sql import functions as F

    return (
        keyed.alias("l")
        .join(keyed.alias("r"), (F.col("l.id_column") == F.col("r.id_column"))
              & (F.col("l.key") == F.col("r.key"))
              & (F.col("l.record_id") < F.col("r.record_id")))
        .where(f"NOT ({guard})")
        .select(F.col("l.record_id").alias("record_id_l"),
                F.col("r.record_id").alias("record_id_r"), F.col("l.id_column"))
    )


def _edges(pairs: "DataFrame") -> "DataFrame":
    from pyspark.sql import functions as F

    return pairs.groupBy("record_id_l", "record_id_r").agg(
        F.array_join(F.array_sort(F.collect_set("id_column")), ",").alias("match_key"))


def deterministic_edges_and_oversized(
    df: "DataFrame",
    spark: "SparkSession",
    max_group_size: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
) -> DeterministicEdges:
    """`deterministic_edges`, and the values left out for being shared too widely."""
    splink_db_api(spark)  # registers jaro_winkler
    df = with_record_id(df)
    id_cols = strong_id_columns(df.columns)
    if not id_cols:
        return DeterministicEdges(spark.createDataFrame([], EDGES_SCHEMA),
                                  spark.createDataFrame([], OVERSIZED_SCHEMA))
    keyed, oversized = _sized(_keyed(df, id_cols), spark, max_group_size)
    return DeterministicEdges(
        _edges(_pairs(keyed, contradiction_sql(df.columns, names=names))), oversized)


def deterministic_edges(
    df: "DataFrame",
    spark: "SparkSession",
    max_group_size: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
) -> "DataFrame":
    """Pairs sharing an exact strong identifier (email, phone, loyalty id, each fk_*),
    minus guarded contradictions (see `contradiction_sql`; `names` keeps its name veto).

    Returns record_id_l, record_id_r (l < r), match_key (comma-separated identifier
    columns the pair shares). Values shared by more than `max_group_size` records are
    skipped and logged: such a value is shared, not identifying.
    """
    return deterministic_edges_and_oversized(df, spark, max_group_size, names).edges


def refreshed_deterministic_edges(
    df: "DataFrame",
    spark: "SparkSession",
    previous_edges: "DataFrame",
    previous_oversized: "DataFrame",
    focus: "DataFrame",
    touched: "DataFrame",
    max_group_size: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
) -> DeterministicEdges:
    """What `deterministic_edges_and_oversized(df)` returns, from last run's results.

    previous_edges: last run's edges (match_type, match_key); previous_oversized: its
    oversized values; focus: (record_id) of new and changed records; touched: (record_id)
    of new, changed and deleted ones. A value no focus record holds and not oversized
    last run has as holders some of last run's, all unchanged, so last run's edges on it
    stand; the other values ("affected") are grouped and joined again."""
    from pyspark.sql import functions as F

    splink_db_api(spark)  # registers jaro_winkler
    df = with_record_id(df)
    id_cols = strong_id_columns(df.columns)
    if not id_cols:
        return deterministic_edges_and_oversized(df, spark, max_group_size, names)
    keyed = _keyed(df, id_cols)
    affected = (keyed.join(focus.select("record_id"), "record_id", "left_semi")
                .select("id_column", "key")
                .union(previous_oversized.select("id_column", "key")).distinct())
    # Checkpointed: sized, paired and matched against last run's edges, it is read thrice.
    holders = keyed.join(F.broadcast(affected), ["id_column", "key"],
                         "left_semi").localCheckpoint(eager=True)
    sized, oversized = _sized(holders, spark, max_group_size)
    fresh = _pairs(sized, contradiction_sql(df.columns, names=names))
    gone = touched.select("record_id")
    # Last run's deterministic edges, one row per identifier, between unchanged records,
    # on values not affected (l holds the pair's value: if it is affected, l is a holder).
    kept = (
        previous_edges.where(F.col("match_type") == "deterministic")
        .join(gone.withColumnRenamed("record_id", "record_id_l"), "record_id_l", "left_anti")
        .join(gone.withColumnRenamed("record_id", "record_id_r"), "record_id_r", "left_anti")
        .select("record_id_l", "record_id_r",
                F.explode(F.split("match_key", ",")).alias("id_column"))
        .join(holders.select(F.col("record_id").alias("record_id_l"), "id_column"),
              ["record_id_l", "id_column"], "left_anti")
    )
    return DeterministicEdges(_edges(fresh.unionByName(kept)), oversized)
