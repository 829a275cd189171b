"""Clusters: connected components over the accepted edges of a Stitch run.

Uses Splink's own connected-components solver on Spark (iterative min-label propagation
whose intermediate tables are written as parquet, so lineage stays short at ~1M nodes /
~2M edges on a small machine). Every record is a node, so a record without an accepted
edge is a singleton cluster of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def accepted_edges(edges: "DataFrame", threshold: float) -> "DataFrame":
    """Edges that join clusters: every deterministic edge, and probabilistic ones with
    match_probability >= threshold."""
    from pyspark.sql import functions as F

    accept = F.col("match_probability") >= F.lit(threshold)
    if "match_type" in edges.columns:
        accept = accept | (F.col("match_type") == "deterministic")
    return edges.where(accept).select("record_id_l", "record_id_r")


def cluster_records(
    nodes: "DataFrame",
    edges: "DataFrame",
    spark: "SparkSession",
    threshold: float,
) -> "DataFrame":
    """(record_id, cluster_id) for every record in `nodes` (a frame with `record_id`).

    `edges` has record_id_l, record_id_r, match_probability (and match_type). The
    cluster_id is the smallest record_id of the cluster (Splink's convention), so it is
    stable for a given set of records; the customer-facing id comes from stable_ids.
    """
    from pyspark.sql import functions as F
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from cdp_pipelines.stitch.matching import splink_db_api

    for frame, name, cols in (
        (nodes, "nodes", ("record_id",)),
        (edges, "edges", ("record_id_l", "record_id_r", "match_probability")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"cluster_records: {name} frame lacks column(s) {missing}")

    db_api = splink_db_api(spark)
    node_ids = nodes.select(F.col("record_id").cast("string")).distinct()
    accepted = accepted_edges(edges, threshold).withColumn(
        "match_probability", F.lit(1.0))
    clusters = cluster_pairwise_predictions_at_threshold(
        node_ids,
        accepted,
        db_api=db_api,
        node_id_column_name="record_id",
        edge_id_column_name_left="record_id_l",
        edge_id_column_name_right="record_id_r",
        threshold_match_probability=None,
    ).as_spark_dataframe()
    return clusters.select(
        F.col("record_id").cast("string").alias("record_id"),
        F.col("cluster_id").cast("string").alias("cluster_id"),
    )


def cluster_sizes(clusters: "DataFrame") -> "DataFrame":
    """(cluster_id, size) per cluster."""
    return clusters.groupBy("cluster_id").count().withColumnRenamed("count", "size")


def flag_supersized(clusters: "DataFrame", max_size: int) -> "DataFrame":
    """Add `cluster_size` and `is_supersized` (size > max_size) to each record's row.

    A supersized cluster usually means a shared identifier slipped past the blocklist;
    QA reports it rather than silently splitting it.
    """
    from pyspark.sql import functions as F

    if max_size < 1:
        raise ValueError(f"flag_supersized: max_size must be >= 1, got {max_size}")
    sizes = cluster_sizes(clusters).withColumnRenamed("size", "cluster_size")
    return clusters.join(sizes, "cluster_id").withColumn(
        "is_supersized", F.col("cluster_size") > F.lit(max_size))
