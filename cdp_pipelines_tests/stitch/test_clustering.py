"""Connected components over accepted edges; supersized flag."""

from cdp_pipelines.stitch.clustering import cluster_records, flag_supersized

EDGES = "record_id_l string, record_id_r string, match_probability double, match_type string"


def test_chain_singleton_and_rejected_edge(spark):
    nodes = spark.createDataFrame([(r,) for r in "abcdef"], "record_id string")
    edges = spark.createDataFrame(
        [
            ("a", "b", 0.95, "probabilistic"),
            ("b", "c", 1.0, "deterministic"),
            ("d", "e", 0.40, "probabilistic"),  # below threshold: d and e stay apart
        ],
        EDGES,
    )
    clusters = cluster_records(nodes, edges, spark, threshold=0.9)
    got = {r.record_id: r.cluster_id for r in clusters.collect()}
    assert set(got) == set("abcdef")
    assert got["a"] == got["b"] == got["c"] == "a"
    assert len({got["a"], got["d"], got["e"], got["f"]}) == 4
    assert got["f"] == "f"

    flagged = {r.record_id: (r.cluster_size, r.is_supersized)
               for r in flag_supersized(clusters, max_size=2).collect()}
    assert flagged["a"] == (3, True)
    assert flagged["f"] == (1, False)
