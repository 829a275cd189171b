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


# Marks a new record's own node in the closure's graph (amperity_ids are UUIDs).
_NEW = "new:"


class Reclustered(NamedTuple):
    clusters: "DataFrame"  # (record_id, cluster_id) of every record, for cluster sizes
    assignments: "DataFrame"  # (record_id, amperity_id) of every record
    changes_clusters: "DataFrame"
    changes_pks: "DataFrame"
    members: "DataFrame"  # (record_id) of the records re-clustered
    records: int  # records re-clustered
    customers: int  # last-run customers re-clustered


def touched_ids(previous: "DataFrame", seeds: "DataFrame", accepted: "DataFrame",
                current: "DataFrame") -> set[str]:
    """Last run's amperity_ids to re-cluster (see the module docstring).

    previous: (record_id, amperity_id) of last run; seeds: (record_id); accepted:
    (record_id_l, record_id_r) of this run; current: (record_id) of this run.

    The closure is a search over the graph of last run's customers (and this run's new
    records, each a node of its own) whose links are the accepted edges between two of
    them. Most accepted edges lie inside one customer, so those links are few: they are
    found in one pass over the edges and followed on the driver."""
    from collections import deque

    from pyspark.sql import functions as F

    new = current.join(previous, "record_id", "left_anti")
    node = previous.select("record_id", F.col("amperity_id").alias("node")).unionByName(
        new.select("record_id", F.concat(F.lit(_NEW), "record_id").alias("node")))
    links = (accepted
             .join(node.withColumnsRenamed({"record_id": "record_id_l", "node": "node_l"}),
                   "record_id_l")
             .join(node.withColumnsRenamed({"record_id": "record_id_r", "node": "node_r"}),
                   "record_id_r")
             .where(F.col("node_l") != F.col("node_r"))
             .select("node_l", "node_r").distinct().collect())
    neighbours: dict[str, list[str]] = {}
    for link in links:
        neighbours.setdefault(link.node_l, []).append(link.node_r)
        neighbours.setdefault(link.node_r, []).append(link.node_l)
    reached = {r.amperity_id for r in previous.join(seeds, "record_id", "left_semi")
               .select("amperity_id").distinct().collect()}
    # Every new record is re-clustered; those linked to a customer bring it along.
    reached |= {n for n in neighbours if n.startswith(_NEW)}
    queue = deque(reached)
    while queue:
        for other in neighbours.get(queue.popleft(), ()):
            if other not in reached:
                reached.add(other)
                queue.append(other)
    return {n for n in reached if not n.startswith(_NEW)}


def recluster(nodes: "DataFrame", edges: "DataFrame", previous: "DataFrame",
              seeds: "DataFrame", spark: "SparkSession", threshold: float,
              names: bool, timings: Timings | None = None) -> Reclustered:
    """Clusters and stable ids of an incremental run.

    nodes: this run's matching frame (record_id and the guard columns); edges: this run's
    unified_scores; previous: last run's (record_id, amperity_id); seeds: (record_id) of
    the delta and of the moved edges' ends."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.clustering import accepted_edges, cluster_records
    from cdp_pipelines.stitch.stable_ids import assign_stable_ids

    timings = timings or Timings()
    previous = previous.select("record_id", "amperity_id")
    current = nodes.select("record_id")
    with timings.part("touched closure"):
        # Checkpointed: each round of the closure reads the accepted edges again.
        accepted = accepted_edges(edges, threshold).localCheckpoint(eager=True)
        ids = touched_ids(previous, seeds, accepted, current)
    chosen = F.broadcast(spark.createDataFrame([(i,) for i in sorted(ids)],
                                               "amperity_id string"))
    touched = previous.join(chosen, "amperity_id", "left_semi")
    untouched = previous.join(chosen, "amperity_id", "left_anti").cache()
    members = current.join(untouched, "record_id", "left_anti").cache()
    reclustered = members.count()
    sub_edges = (edges.join(members.withColumnRenamed("record_id", "record_id_l"),
                            "record_id_l", "left_semi")
                 .join(members.withColumnRenamed("record_id", "record_id_r"),
                       "record_id_r", "left_semi"))
    with timings.part("components"):
        clusters = cluster_records(nodes.join(members, "record_id", "left_semi"), sub_edges,
                                   spark, threshold, names, nodes_at_most=reclustered).cache()
    with timings.part("stable ids"):
        assignments, changes_clusters, changes_pks = assign_stable_ids(
            clusters, touched, reserved_ids=untouched.select("amperity_id"))
    unchanged = untouched.groupBy("amperity_id").agg(
        F.min("record_id").alias("cluster_id"), F.count(F.lit(1)).alias("record_count"))
    unchanged = unchanged.select(
        "amperity_id", "cluster_id", F.lit("unchanged").alias("change"),
        F.array().cast("array<string>").alias("related_ids"),
        F.col("record_count").cast("long").alias("record_count"),
        F.col("record_count").cast("long").alias("previous_record_count"))
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
