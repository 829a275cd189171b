"""Deterministic edges: records sharing an exact strong identifier, guarded."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    splink_db_api(spark)  # registers jaro_winkler
    df = with_record_id(df)
    id_cols = strong_id_columns(df.columns)
    schema = "record_id_l string, record_id_r string, match_key string"
    if not id_cols:
        return spark.createDataFrame([], schema)

    guard_cols = guard_columns(df.columns)
    guard = contradiction_sql(df.columns, names=names)
    pieces = []
    for col in id_cols:
        # ids are compared as trimmed strings so a numeric fk and its string form agree
        keyed = (
            df.select("record_id", F.trim(F.col(col).cast("string")).alias("_key"),
                      *guard_cols)
            .where(F.col("_key").isNotNull() & (F.col("_key") != ""))
            .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("_key")))
        )
        oversized = keyed.where(F.col("_n") > max_group_size).select("_key").distinct()
        n_oversized = oversized.count()
        if n_oversized:
            logger.warning(
                "deterministic edges: %d value(s) of %s are shared by more than %d records "
                "and were not used (examples: %s); consider adding them to the blocklist",
                n_oversized, col, max_group_size,
                [r._key for r in oversized.limit(5).collect()],
            )
        keyed = keyed.where(F.col("_n") <= max_group_size).drop("_n")
        pair = (
            keyed.alias("l")
            .join(keyed.alias("r"), (F.col("l._key") == F.col("r._key"))
                  & (F.col("l.record_id") < F.col("r.record_id")))
            .where(f"NOT ({guard})")
            .select(F.col("l.record_id").alias("record_id_l"),
                    F.col("r.record_id").alias("record_id_r"),
                    F.lit(col).alias("match_key"))
        )
        pieces.append(pair)
    edges = pieces[0]
    for piece in pieces[1:]:
        edges = edges.unionByName(piece)
    return edges.groupBy("record_id_l", "record_id_r").agg(
        F.array_join(F.array_sort(F.collect_set("match_key")), ",").alias("match_key")
    )
