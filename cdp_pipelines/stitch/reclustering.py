"""Incremental clustering: re-cluster only the customers an incremental run touched.

Touched: every last-run customer holding a new, changed or deleted record or an end of an
accepted edge that moved, and every customer an accepted edge links to one of those
(followed until no more are found), plus the new records. That set is closed under the
accepted edges, so its connected components, contradiction splits and cluster ids are
what a full run finds; every other customer has the same records, edges and guard inputs
as last run, so keeps its clusters and its amperity_id, copied over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from cdp_pipelines.observability import Timings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class Reclustered(NamedTuple):
    clusters: "DataFrame"  # (record_id, cluster_id) of every record, for cluster sizes
    assignments: "DataFrame"  # (record_id, amperity_id) of every record
    changes_clusters: "DataFrame"
    changes_pks: "DataFrame"
    members: "DataFrame"  # (record_id) of the records re-clustered
    records: int  # records re-clustered
    customers: int  # last-run customers re-clustered


def _values(spark: "SparkSession", values: set[str], column: str) -> "DataFrame":
    """A broadcast one-column frame of `values`."""
    from pyspark.sql import functions as F

    return F.broadcast(spark.createDataFrame([(v,) for v in sorted(values)],
                                             f"{column} string"))


class Touched(NamedTuple):
    customers: set[str]  # last run's amperity_ids to re-cluster
    records: set[str]  # their last-run records, and this run's new records


def touched_ids(previous: "DataFrame", seeds: "DataFrame", accepted: "DataFrame",
                current: "DataFrame") -> Touched:
    """Last run's amperity_ids to re-cluster (see the module docstring), and the records
    to re-cluster with them.

    previous: (record_id, amperity_id) of last run; seeds: (record_id); accepted:
    (record_id_l, record_id_r) of this run; current: (record_id) of this run.

    A breadth-first search over last run's customers (and this run's new records, each a
    node of its own) linked by the accepted edges between them, from the seeds' customers
    and every new record. Each round reads only the edges of the records it reached last
    (broadcast semi-joins): a run that touches a few customers reads a few of them, where
    finding every link between customers joined every accepted edge to every record's id."""

    spark = previous.sparkSession
    new = {r.record_id for r in current.join(previous, "record_id", "left_anti").collect()}

    def column(frame: "DataFrame", name: str) -> set[str]:
        return {row[0] for row in frame.select(name).collect()}

    def records_of(customers: set[str]) -> set[str]:
        return column(previous.join(_values(spark, customers, "amperity_id"), "amperity_id",
                                    "left_semi"), "record_id") if customers else set()

    def linked_to(records: set[str]) -> set[str]:
        """The other ends of the accepted edges that hold one of `records`."""
        ends = _values(spark, records, "record_id")
        return column(accepted.join(ends.withColumnRenamed("record_id", "record_id_l"),
                                    "record_id_l", "left_semi"), "record_id_r") | \
            column(accepted.join(ends.withColumnRenamed("record_id", "record_id_r"),
                                 "record_id_r", "left_semi"), "record_id_l")

    reached = column(previous.join(seeds, "record_id", "left_semi"), "amperity_id")
    # Every new record is re-clustered; those linked to a customer bring it along.
    records = new | records_of(reached)
    seen = set(records)
    while records:
        # Not new (every new record was seen first): last run's records.
        others = linked_to(records) - seen
        customers = column(previous.join(_values(spark, others, "record_id"), "record_id",
                                         "left_semi"), "amperity_id") - reached
        reached |= customers
        records = records_of(customers) - seen
        seen |= records
    return Touched(reached, seen)


def recluster(nodes: "DataFrame", edges: "DataFrame", previous: "DataFrame",
              seeds: "DataFrame", spark: "SparkSession", threshold: float,
              names: bool, timings: Timings | None = None,
              previous_changes: "DataFrame | None" = None) -> Reclustered:
    """Clusters and stable ids of an incremental run.

    nodes: this run's matching frame (record_id and the guard columns); edges: this run's
    unified_scores; previous: last run's (record_id, amperity_id); seeds: (record_id) of
    the delta and of the moved edges' ends; previous_changes: last run's
    unified_changes_clusters, whose rows of the customers not re-clustered are this run's
    "unchanged" rows (counted from `previous` instead when it is missing or disagrees)."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.clustering import accepted_for_clustering, cluster_records
    from cdp_pipelines.stitch.stable_ids import assign_stable_ids

    timings = timings or Timings()
    previous = previous.select("record_id", "amperity_id")
    current = nodes.select("record_id")
    with timings.part("touched closure"):
        # Checkpointed: each round of the closure reads them again, and the re-clustering
        # its part of them, where it read every scored pair twice.
        accepted = accepted_for_clustering(edges, threshold).localCheckpoint(eager=True)
        ids, records = touched_ids(previous, seeds,
                                   accepted.select("record_id_l", "record_id_r"), current)
    chosen = _values(spark, ids, "amperity_id")
    # Checkpointed: the stable ids and their change log read it often; a few rows.
    touched = previous.join(chosen, "amperity_id", "left_semi").localCheckpoint(eager=True)
    untouched = previous.join(chosen, "amperity_id", "left_anti").cache()
    members = current.join(_values(spark, records, "record_id"), "record_id",
                           "left_semi").cache()
    reclustered = members.count()
    sub_edges = (accepted.join(members.withColumnRenamed("record_id", "record_id_l"),
                               "record_id_l", "left_semi")
                 .join(members.withColumnRenamed("record_id", "record_id_r"),
                       "record_id_r", "left_semi"))
    with timings.part("components"):
        clusters = cluster_records(nodes.join(members, "record_id", "left_semi"), sub_edges,
                                   spark, threshold, names, nodes_at_most=reclustered).cache()
    with timings.part("stable ids"):
        assignments, changes_clusters, changes_pks = assign_stable_ids(
            clusters, touched, reserved_ids=untouched.select("amperity_id"))
    with timings.part("unchanged customers"):
        unchanged = _unchanged_customers(untouched, chosen, previous_changes)
    return Reclustered(
        clusters=clusters.unionByName(untouched.select(
            "record_id", F.concat(F.lit("kept:"), "amperity_id").alias("cluster_id"))),
        assignments=assignments.unionByName(untouched),
        changes_clusters=changes_clusters.unionByName(unchanged),
        changes_pks=changes_pks,
        members=members,
        records=reclustered,
        customers=len(ids),
    )


def _unchanged_customers(untouched: "DataFrame", chosen: "DataFrame",
                         previous_changes: "DataFrame | None") -> "DataFrame":
    """unified_changes_clusters' rows of the customers not re-clustered (`untouched`:
    their (record_id, amperity_id); `chosen`: the amperity_ids re-clustered): same
    records, cluster (its smallest record_id) and size as last run. Copied from last
    run's rows of them when those account for every untouched record (a pass over one
    row per customer); else counted from the records."""
    from pyspark.sql import functions as F

    rows = None
    if previous_changes is not None:
        logged = (previous_changes.where(F.col("change") != "retired")
                  .join(chosen, "amperity_id", "left_anti")
                  .select("amperity_id", "cluster_id", "record_count").cache())
        if logged.agg(F.sum("record_count")).first()[0] == untouched.count():
            rows = logged
        else:
            logged.unpersist()
    if rows is None:
        rows = untouched.groupBy("amperity_id").agg(
            F.min("record_id").alias("cluster_id"), F.count(F.lit(1)).alias("record_count"))
    return rows.select(
        "amperity_id", "cluster_id", F.lit("unchanged").alias("change"),
        F.array().cast("array<string>").alias("related_ids"),
        F.col("record_count").cast("long").alias("record_count"),
        F.col("record_count").cast("long").alias("previous_record_count"))
