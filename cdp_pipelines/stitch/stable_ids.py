"""Stable customer ids: carry last run's amperity_id over to this run's clusters.

Rules (every one deterministic, so a re-run with the same inputs gives the same ids):
- Count, for every (new cluster, previous id), how many of the cluster's records held that
  id last run. Pairs are granted greedily, largest count first; ties go to the smallest
  previous id, then to the cluster with the smallest record_id. A cluster gets at most one
  previous id and a previous id goes to at most one cluster. Hence:
  - a cluster keeps the id held by most of its previously known records;
  - on a merge the id held by most records wins, the others are retired;
  - on a split the part holding most of the old id's records keeps it, the other parts
    get new ids.
- A cluster without a previous id gets a new UUID: uuid5 of the cluster's smallest
  record_id (computed in Spark SQL, identical to Python's uuid.uuid5). If that value was
  already a previous id (the record's old cluster kept it), a counter is appended to the
  name until it is free.

Outputs: assignments (record_id, amperity_id); changes_clusters (one row per new cluster
and per retired id: amperity_id, cluster_id, change, related_ids, record_count,
previous_record_count); changes_pks (record_id, old_id, new_id) for every record whose id
is not what it was, including records new to this run (old_id NULL) and records gone
from it (new_id NULL).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

AMPERITY_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cdp-pipelines:amperity_id")

# Separates a record_id from a collision counter in the uuid5 name; NUL does not occur
# in real primary keys, so "<id>\0<k>" cannot be another record's id.
_COUNTER_SEPARATOR = "\x00"


def uuid5_column(name: "Column", namespace: uuid.UUID = AMPERITY_ID_NAMESPACE) -> "Column":
    """Spark column equal to str(uuid.uuid5(namespace, name))."""
    from pyspark.sql import functions as F

    digest = F.sha1(F.concat(F.unhex(F.lit(namespace.hex)),
                             F.encode(name, "UTF-8")))
    # RFC 4122 variant: the top two bits of byte 8 are 10.
    variant = F.lower(F.conv(
        ((F.conv(F.substring(digest, 17, 1), 16, 10).cast("int")
          .bitwiseAND(3)).bitwiseOR(8)).cast("string"), 10, 16))
    return F.concat(
        F.substring(digest, 1, 8), F.lit("-"),
        F.substring(digest, 9, 4), F.lit("-"),
        F.lit("5"), F.substring(digest, 14, 3), F.lit("-"),
        variant, F.substring(digest, 18, 3), F.lit("-"),
        F.substring(digest, 21, 12),
    )


def new_id_for(record_id: str, counter: int = 0,
               namespace: uuid.UUID = AMPERITY_ID_NAMESPACE) -> str:
    """The id minted for a cluster whose smallest record_id is `record_id`."""
    name = record_id if counter == 0 else f"{record_id}{_COUNTER_SEPARATOR}{counter}"
    return str(uuid.uuid5(namespace, name))


def _check_columns(frame: "DataFrame", name: str, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(
            f"assign_stable_ids: {name} lacks column(s) {missing} (has {frame.columns})")


def _grant_previous_ids(candidates: "DataFrame") -> "DataFrame":
    """(cluster_id, anchor, old_id, n) -> (cluster_id, kept_id) by the greedy rule.

    Pairs alone in their component (the cluster has one previous id, the id one cluster)
    are granted in Spark; only contested ones, the merges and splits, go to the driver.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = candidates.sparkSession
    marked = (
        candidates
        .withColumn("_ids_in_cluster", F.count(F.lit(1)).over(Window.partitionBy("cluster_id")))
        .withColumn("_clusters_of_id", F.count(F.lit(1)).over(Window.partitionBy("old_id")))
        .cache()
    )
    alone = (F.col("_ids_in_cluster") == 1) & (F.col("_clusters_of_id") == 1)
    # Checkpointed: one row per cluster, read by every table after it, and `marked` is
    # released below.
    granted = marked.where(alone).select(
        "cluster_id", F.col("old_id").alias("kept_id")).localCheckpoint(eager=True)
    contested = (
        marked.where(~alone).select("cluster_id", "anchor", "old_id", "n")
        .orderBy(F.desc("n"), "old_id", "anchor").collect()
    )
    marked.unpersist()
    taken_clusters: set[str] = set()
    taken_ids: set[str] = set()
    rows = []
    for row in contested:
        if row.cluster_id in taken_clusters or row.old_id in taken_ids:
            continue
        taken_clusters.add(row.cluster_id)
        taken_ids.add(row.old_id)
        rows.append((row.cluster_id, row.old_id))
    if rows:
        granted = granted.unionByName(
            spark.createDataFrame(rows, "cluster_id string, kept_id string"))
    return granted


# Next ids (counter 1, 2, ...) of a colliding cluster looked up among the old ids at once.
_NEXT_IDS = 4
# New ids broadcast to the old ids they are looked up in, up to this many (an incremental
# run's few); more are joined by a shuffle.
_BROADCAST_IDS = 200_000


def _held(old_ids: "DataFrame", ids: "DataFrame", count: int) -> "DataFrame":
    """The rows of `ids` (minted) that `old_ids` (minted) holds, without shuffling every
    old id when `ids` are few."""
    from pyspark.sql import functions as F

    few = F.broadcast(ids) if count <= _BROADCAST_IDS else ids
    return old_ids.join(few, "minted", "left_semi").distinct()


def _held_ids(old_ids: "DataFrame", ids: set[str]) -> set[str]:
    """The `ids` that `old_ids` (minted) holds."""
    frame = old_ids.sparkSession.createDataFrame([(i,) for i in sorted(ids)], "minted string")
    return {r.minted for r in _held(old_ids, frame, len(ids)).collect()}


def assign_stable_ids(
    clusters_df: "DataFrame", previous_df: "DataFrame | None",
    namespace: uuid.UUID = AMPERITY_ID_NAMESPACE,
    reserved_ids: "DataFrame | None" = None,
) -> tuple["DataFrame", "DataFrame", "DataFrame"]:
    """Map this run's clusters to stable amperity_ids.

    clusters_df: (record_id, cluster_id) for every record of this run.
    previous_df: last run's (record_id, amperity_id), or None on the first run.
    namespace: of the uuid5 of new ids (households mint theirs in a namespace of their own).
    reserved_ids: (amperity_id) ids held by records outside `clusters_df` (an incremental
    run re-clusters some customers only): never minted, like previous ids.
    Returns (assignments, changes_clusters, changes_pks); see the module docstring.
    """
    from pyspark.sql import functions as F

    _check_columns(clusters_df, "clusters_df", ("record_id", "cluster_id"))
    spark = clusters_df.sparkSession
    current = clusters_df.select(F.col("record_id").cast("string"),
                                 F.col("cluster_id").cast("string"))
    if previous_df is None:
        previous = spark.createDataFrame([], "record_id string, old_id string")
    else:
        _check_columns(previous_df, "previous_df", ("record_id", "amperity_id"))
        previous = previous_df.select(F.col("record_id").cast("string"),
                                      F.col("amperity_id").cast("string").alias("old_id"))

    per_cluster = current.groupBy("cluster_id").agg(
        F.min("record_id").alias("anchor"), F.count(F.lit(1)).alias("record_count"))
    known = current.join(previous, "record_id")
    candidates = (
        known.groupBy("cluster_id", "old_id").agg(F.count(F.lit(1)).alias("n"))
        .join(per_cluster.select("cluster_id", "anchor"), "cluster_id")
    )
    granted = _grant_previous_ids(candidates)

    old_ids = previous.select(F.col("old_id").alias("minted"))
    if reserved_ids is not None:
        old_ids = old_ids.union(reserved_ids.select(F.col("amperity_id").alias("minted")))
    # Checkpointed: read for the collisions and the ids.
    unkept = per_cluster.join(granted, "cluster_id", "left_anti").withColumn(
        "minted", uuid5_column(F.col("anchor"), namespace)).localCheckpoint(eager=True)
    collisions = unkept.join(_held(old_ids, unkept.select("minted"), unkept.count()),
                             "minted", "left_semi").select("cluster_id", "anchor").collect()
    minted = unkept.select("cluster_id", "minted")
    if collisions:
        # The ids a colliding cluster may take next, looked up among the old ids at once
        # (more only for a cluster that runs out of them).
        tried = {new_id_for(r.anchor, n, namespace)
                 for r in collisions for n in range(1, _NEXT_IDS + 1)}
        used = _held_ids(old_ids, tried)
        fixes = []
        for row in sorted(collisions, key=lambda r: r.anchor):
            counter = 1
            while (fixed := new_id_for(row.anchor, counter, namespace)) in used or (
                    fixed not in tried and _held_ids(old_ids, {fixed})):
                counter += 1
            used.add(fixed)
            fixes.append((row.cluster_id, fixed))
        fix_df = spark.createDataFrame(fixes, "cluster_id string, fixed string")
        minted = (minted.join(fix_df, "cluster_id", "left")
                  .select("cluster_id", F.coalesce("fixed", "minted").alias("minted")))

    cluster_ids = (
        per_cluster.join(granted, "cluster_id", "left").join(minted, "cluster_id", "left")
        .select("cluster_id", "anchor", "record_count", "kept_id",
                F.coalesce("kept_id", "minted").alias("amperity_id"))
        .cache()
    )
    assignments = current.join(cluster_ids.select("cluster_id", "amperity_id"), "cluster_id") \
        .select("record_id", "amperity_id")

    changes_clusters = _cluster_changes(cluster_ids, known, previous)
    changes_pks = (
        assignments.withColumnRenamed("amperity_id", "new_id")
        .join(previous, "record_id", "full_outer")
        .where(~F.col("old_id").eqNullSafe(F.col("new_id")))
        .select("record_id", "old_id", "new_id")
    )
    return assignments, changes_clusters, changes_pks


def _cluster_changes(
    cluster_ids: "DataFrame", known: "DataFrame", previous: "DataFrame"
) -> "DataFrame":
    from pyspark.sql import functions as F

    prev_sizes = previous.groupBy("old_id").agg(
        F.count(F.lit(1)).alias("previous_record_count"))
    ids = cluster_ids.select("cluster_id", "amperity_id", "kept_id")
    # where each previous id's records are now: (old_id, cluster_id, its amperity_id)
    placement = known.join(ids, "cluster_id").select(
        "old_id", "cluster_id", "amperity_id", "kept_id").distinct()

    absorbed = (
        placement.where(F.col("kept_id").isNull() | (F.col("old_id") != F.col("kept_id")))
        .groupBy("cluster_id").agg(F.array_sort(F.collect_set("old_id")).alias("from_ids"))
    )
    moved_to = (
        placement.join(ids.select(F.col("kept_id").alias("old_id"),
                                  F.col("cluster_id").alias("home")), "old_id")
        .where(F.col("cluster_id") != F.col("home"))
        .groupBy("old_id").agg(F.array_sort(F.collect_set("amperity_id")).alias("to_ids"))
    )
    kept_here = known.groupBy("cluster_id", "old_id").agg(F.count(F.lit(1)).alias("kept_n"))

    rows = (
        cluster_ids
        .join(absorbed, "cluster_id", "left")
        .join(moved_to.withColumnRenamed("old_id", "kept_id"), "kept_id", "left")
        .join(prev_sizes.withColumnRenamed("old_id", "kept_id"), "kept_id", "left")
        .join(kept_here.withColumnRenamed("old_id", "kept_id"), ["cluster_id", "kept_id"],
              "left")
    )
    empty = F.array().cast("array<string>")
    merged = F.size(F.coalesce("from_ids", empty)) > 0
    split = F.size(F.coalesce("to_ids", empty)) > 0
    kept = F.col("kept_id").isNotNull()
    change = (
        F.when(~kept & F.col("from_ids").isNull(), F.lit("new"))
        .when(~kept, F.lit("split"))
        .when(merged & split, F.lit("merged_split"))
        .when(merged, F.lit("merged"))
        .when(split, F.lit("split"))
        .when((F.col("record_count") != F.col("kept_n"))
              | (F.col("previous_record_count") != F.col("kept_n")), F.lit("updated"))
        .otherwise(F.lit("unchanged"))
    )
    related = (
        F.when(~kept, F.coalesce("from_ids", empty))
        .otherwise(F.array_sort(F.array_union(F.coalesce("from_ids", empty),
                                              F.coalesce("to_ids", empty))))
    )
    live = rows.select(
        "amperity_id", "cluster_id", change.alias("change"), related.alias("related_ids"),
        F.col("record_count").cast("long").alias("record_count"),
        F.coalesce("previous_record_count", F.lit(0)).cast("long")
        .alias("previous_record_count"),
    )

    retired_ids = prev_sizes.join(
        cluster_ids.select(F.col("kept_id").alias("old_id")).where("old_id IS NOT NULL"),
        "old_id", "left_anti")
    now_in = placement.groupBy("old_id").agg(
        F.array_sort(F.collect_set("amperity_id")).alias("now_in"))
    retired = retired_ids.join(now_in, "old_id", "left").select(
        F.col("old_id").alias("amperity_id"),
        F.lit(None).cast("string").alias("cluster_id"),
        F.lit("retired").alias("change"),
        F.coalesce("now_in", empty).alias("related_ids"),
        F.lit(0).cast("long").alias("record_count"),
        F.col("previous_record_count").cast("long"),
    )
    return live.unionByName(retired)
