"""Clusters: connected components over the accepted edges of a Stitch run.

Uses Splink's own connected-components solver on Spark (iterative min-label propagation
whose intermediate tables are written as parquet, so lineage stays short at ~1M nodes /
~2M edges on a small machine). Every record is a node, so a record without an accepted
edge is a singleton cluster of its own.

Transitive links can join two records that clearly are different people (a record with
only an email shared by a couple links to both partners). Components holding such a
contradiction are re-clustered greedily: strongest edges first (deterministic, then a
record without a name joining the person its mailbox names, then by match weight), two
groups join only if no record of one contradicts a record of the other, or if the direct
links between named records of the two outnumber the contradicting pairs
(`constrained_groups`). Contradictions are different names and, where the data has
households, different birthdates (a father and his namesake son at one address).
Components without contradictions, the vast majority, are left as they are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

# Up to this many nodes, connected components are found in this process (nodes and
# edges collected as Arrow columns) rather than by Splink's iterative Spark solver, whose
# fixed cost per round dominates: 1M nodes and 1.3M edges take about 25 s and 0.5 GiB of
# this process's memory here, where the solver took 85 s for a 1M-record Stitch.
LOCAL_COMPONENTS_MAX_NODES = 2_000_000
# Components larger than this are not searched for contradictions (the pairwise check
# grows with the square of the size); they are flagged supersized for review instead.
MAX_COMPONENT_TO_SPLIT = 1000

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _accepted(edges: "DataFrame", threshold: float) -> "DataFrame":
    from pyspark.sql import functions as F

    accept = F.col("match_probability") >= F.lit(threshold)
    if "match_type" in edges.columns:
        accept = accept | (F.col("match_type") == "deterministic")
    return edges.where(accept)


def accepted_edges(edges: "DataFrame", threshold: float) -> "DataFrame":
    """Edges that join clusters: every deterministic edge, and probabilistic ones with
    match_probability >= threshold."""
    return _accepted(edges, threshold).select("record_id_l", "record_id_r")


def accepted_for_clustering(edges: "DataFrame", threshold: float) -> "DataFrame":
    """`accepted_edges` with the columns `cluster_records` reads of them (probability,
    type, weight): clustering them gives what clustering `edges` gives."""
    keep = ("record_id_l", "record_id_r", "match_probability", "match_type", "match_weight")
    return _accepted(edges, threshold).select(*[c for c in keep if c in edges.columns])


def accepted_with_type(edges: "DataFrame", threshold: float) -> "DataFrame":
    """`accepted_edges` with their match_type."""
    from pyspark.sql import functions as F

    kind = F.col("match_type") if "match_type" in edges.columns else F.lit("probabilistic")
    return _accepted(edges, threshold).select("record_id_l", "record_id_r",
                                              kind.alias("match_type"))


def cluster_records(
    nodes: "DataFrame",
    edges: "DataFrame",
    spark: "SparkSession",
    threshold: float,
    names: bool = True,
    nodes_at_most: int | None = None,
) -> "DataFrame":
    """(record_id, cluster_id) for every record in `nodes` (a frame with `record_id`).
    `nodes_at_most`, when the caller knows it, bounds how many records `nodes` holds: up
    to LOCAL_COMPONENTS_MAX_NODES, components are found in this process (same result).

    `edges` has record_id_l, record_id_r, match_probability (and match_type). The
    cluster_id is the smallest record_id of the cluster (Splink's convention), so it is
    stable for a given set of records; the customer-facing id comes from stable_ids.
    When `nodes` carries the guard columns of `matching.contradiction_sql`, components
    holding a contradiction are split (see the module docstring); `names` keeps the
    guard's name veto (off for a tenant without households, as in matching).
    """
    from pyspark.sql import functions as F
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from cdp_pipelines.stitch.matching import splink_db_api, splink_views_released

    for frame, name, cols in (
        (nodes, "nodes", ("record_id",)),
        (edges, "edges", ("record_id_l", "record_id_r", "match_probability")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"cluster_records: {name} frame lacks column(s) {missing}")

    node_ids = nodes.select(F.col("record_id").cast("string")).distinct()
    if nodes_at_most is not None and nodes_at_most <= LOCAL_COMPONENTS_MAX_NODES:
        clusters = _components_here(node_ids, accepted_edges(edges, threshold))
        return split_contradictions(clusters, nodes, edges, threshold, names)
    db_api = splink_db_api(spark)
    accepted = accepted_edges(edges, threshold).withColumn(
        "match_probability", F.lit(1.0))
    # The frame reads Splink's last parquet table; its views (a plan each) are not needed.
    with splink_views_released(spark):
        clusters = cluster_pairwise_predictions_at_threshold(
            node_ids,
            accepted,
            db_api=db_api,
            node_id_column_name="record_id",
            edge_id_column_name_left="record_id_l",
            edge_id_column_name_right="record_id_r",
            threshold_match_probability=None,
        ).as_spark_dataframe()
    clusters = clusters.select(
        F.col("record_id").cast("string").alias("record_id"),
        F.col("cluster_id").cast("string").alias("cluster_id"),
    )
    return split_contradictions(clusters, nodes, edges, threshold, names)


def _components_here(node_ids: "DataFrame", accepted: "DataFrame") -> "DataFrame":
    """(record_id, cluster_id) of the connected components of `node_ids` (record_id) over
    `accepted` (record_id_l, record_id_r), found in this process; the cluster_id is the
    smallest record_id of the component, as Splink's solver gives it. Nodes, edges and
    the result cross between Spark and Python as Arrow columns."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    records = node_ids.toArrow().column("record_id").to_pylist()
    parent = dict(zip(records, records))

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ends = accepted.select(F.col("record_id_l").cast("string"),
                           F.col("record_id_r").cast("string")).toArrow()
    for a, b in zip(ends.column(0).to_pylist(), ends.column(1).to_pylist()):
        if a not in parent or b not in parent:
            continue  # an edge to a record outside `node_ids` joins nothing here
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    table = pa.table({"record_id": pa.array(records, pa.string()),
                      "cluster_id": pa.array([root(r) for r in records], pa.string())})
    return node_ids.sparkSession.createDataFrame(table)


def _contradicting_pairs(clusters: "DataFrame", records: "DataFrame",
                         names: bool = True) -> "DataFrame":
    """(cluster_id, a, b): records of one component that contradict each other."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.matching import contradiction_sql, guard_columns

    sizes = cluster_sizes(clusters).where(
        (F.col("size") > 1) & (F.col("size") <= MAX_COMPONENT_TO_SPLIT))
    side = (clusters.join(sizes.select("cluster_id"), "cluster_id")
            .join(records.select("record_id", *guard_columns(records.columns)), "record_id"))
    return (
        side.alias("l")
        .join(side.alias("r"), (F.col("l.cluster_id") == F.col("r.cluster_id"))
              & (F.col("l.record_id") < F.col("r.record_id")))
        # With households, birthdates more than one typo apart contradict as well: they
        # are what tells a father from the son who bears his name and address. Without
        # (data where a duplicate's date is often replaced) a birthdate only vouches, as
        # for scored pairs (see matching).
        .where(contradiction_sql(records.columns, birthdates=names, names=names))
        .select(F.col("l.cluster_id").alias("cluster_id"), F.col("l.record_id").alias("a"),
                F.col("r.record_id").alias("b"))
    )


MAILBOX_COLUMNS = ("email_norm", "given_name_norm", "given_name_forms", "surname_norm")


def mailbox_names_sql(columns) -> str | None:
    """SQL (over aliases l, r) true when one record has no given name but an email, and
    its mailbox names the other record's person: one of their given name's forms
    ("patrick93@" for "pat brooks"), or their surname and initial ("hayesn94@" for
    "nathan hayes"). None when the columns cannot tell.

    A family shares one email; a record carrying only that email (a newsletter sign-up)
    links to every member, and the split must give it to one. The member whose name the
    mailbox spells is the likelier owner; others only borrow it."""
    from cdp_pipelines.stitch.matching import mailbox_sql, surname_letters_sql

    cols = set(columns)
    if not {"email_norm", "given_name_norm"} <= cols:
        return None

    def names(x: str, y: str) -> str:  # x's mailbox names y
        box = mailbox_sql(x)
        forms = (f"split({y}.given_name_forms, ' ')" if "given_name_forms" in cols
                 else f"array({y}.given_name_norm)")
        spelled = [f"exists({forms}, f -> length(f) >= 3 AND instr({box}, f) > 0)"]
        if "surname_norm" in cols:
            surname = surname_letters_sql(y)
            spelled.append(f"(length({surname}) >= 3 AND instr({box}, {surname}) > 0 AND "
                           f"replace({box}, {surname}, '') = substr({y}.given_name_norm, 1, 1))")
        return (f"({x}.given_name_norm IS NULL AND {x}.email_norm IS NOT NULL AND "
                f"{y}.given_name_norm IS NOT NULL AND ({' OR '.join(spelled)}))")

    return f"({names('l', 'r')} OR {names('r', 'l')})"


def constrained_groups(members: list[str], edges: list[tuple], cannot_link: list[tuple],
                       informative: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Greedy clustering of one component: record -> group id (its smallest record).

    `edges` are (record_l, record_r, sort_key) taken in ascending sort_key order (the
    strongest first). Two groups join when no `cannot_link` pair spans them, or when the
    direct links between them outnumber the contradicting pairs: one record with a
    replaced first name, or a mistyped birthdate, should not part a person whose other
    records vouch for each other. Only links between `informative` records count (those
    that carry a name able to contradict): a record with no name, or an initial, links to
    every member of a household and so vouches for none.
    """
    parent = {m: m for m in members}
    groups = {m: {m} for m in members}
    cannot: dict[str, set[str]] = defaultdict(set)
    for a, b in cannot_link:
        cannot[a].add(b)
        cannot[b].add(a)
    support: dict[str, set[str]] = defaultdict(set)
    for left, right, _ in edges:
        if left != right and left in informative and right in informative:
            support[left].add(right)
            support[right].add(left)

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def across(small: str, big: str, links: dict[str, set[str]]) -> int:
        return sum(1 for m in groups[small] for other in links[m] if find(other) == big)

    for left, right, _ in sorted(edges, key=lambda e: (e[2], e[0], e[1])):
        a, b = find(left), find(right)
        if a == b:
            continue
        small, big = (a, b) if len(groups[a]) <= len(groups[b]) else (b, a)
        conflicts = across(small, big, cannot)
        if conflicts and across(small, big, support) <= conflicts:
            continue
        parent[small] = big
        groups[big] |= groups.pop(small)
    return {m: min(groups[find(m)]) for m in members}


def split_contradictions(clusters: "DataFrame", records: "DataFrame", edges: "DataFrame",
                         threshold: float, names: bool = True) -> "DataFrame":
    """Re-cluster the components that hold a contradiction; others pass through."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.matching import guard_columns

    if not guard_columns(records.columns):
        return clusters
    conflicts = _contradicting_pairs(clusters, records, names).collect()
    if not conflicts:
        return clusters
    spark = clusters.sparkSession
    conflicted = spark.createDataFrame(
        sorted({(r.cluster_id,) for r in conflicts}), "cluster_id string")
    name = next((c for c in ("given_name_norm", "full_name_norm") if c in records.columns), None)
    # A record whose name can contradict: more than an initial.
    named = (F.length(F.col(name)) >= 2 if name else F.lit(False))
    members = (clusters.join(F.broadcast(conflicted), "cluster_id")
               .join(records.select("record_id", F.coalesce(named, F.lit(False)).alias("named")),
                     "record_id")
               .collect())
    # Strongest first: deterministic links, then (a record without a name joining the
    # person its mailbox names before anyone else) by match weight.
    mailbox = mailbox_names_sql(records.columns)
    strength = [F.when(F.col("match_type") == "deterministic", 0).otherwise(1)
                if "match_type" in edges.columns else F.lit(1),
                F.when(F.expr(mailbox), 0).otherwise(1) if mailbox else F.lit(1),
                -F.coalesce(F.col("match_weight"), F.lit(0.0))
                if "match_weight" in edges.columns else -F.col("match_probability")]
    component_edges = _accepted(edges, threshold).join(
        clusters.withColumnRenamed("record_id", "record_id_l"), "record_id_l"
    ).join(F.broadcast(conflicted), "cluster_id")
    if mailbox:
        side = records.select("record_id", *[c for c in MAILBOX_COLUMNS
                                             if c in records.columns])
        component_edges = (
            component_edges.join(side.alias("l"), F.col("record_id_l") == F.col("l.record_id"))
            .join(side.alias("r"), F.col("record_id_r") == F.col("r.record_id")))
    component_edges = component_edges.select(
        "cluster_id", "record_id_l", "record_id_r",
        *[s.alias(f"k{i}") for i, s in enumerate(strength)]).collect()
    by_component: dict[str, tuple[list, list, list, set]] = defaultdict(
        lambda: ([], [], [], set()))
    for row in members:
        by_component[row.cluster_id][0].append(row.record_id)
        if row.named:
            by_component[row.cluster_id][3].add(row.record_id)
    for row in component_edges:
        by_component[row.cluster_id][1].append((row.record_id_l, row.record_id_r,
                                                (row.k0, row.k1, row.k2)))
    for row in conflicts:
        by_component[row.cluster_id][2].append((row.a, row.b))
    reassigned = [(record, group) for parts in by_component.values()
                  for record, group in constrained_groups(*parts).items()]
    fixes = spark.createDataFrame(reassigned, "record_id string, new_cluster_id string")
    return (clusters.join(F.broadcast(fixes), "record_id", "left")
            .select("record_id", F.coalesce("new_cluster_id", "cluster_id").alias("cluster_id")))


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
