"""Stable ids across runs: unchanged, new, merge, split, ties, minted-id collisions."""

import uuid

from cdp_pipelines.stitch.stable_ids import (
    AMPERITY_ID_NAMESPACE,
    assign_stable_ids,
    new_id_for,
    uuid5_column,
)

X = "00000000-0000-0000-0000-00000000000a"
Y = "00000000-0000-0000-0000-00000000000b"
Z = "00000000-0000-0000-0000-00000000000c"


def _clusters(spark, mapping):
    return spark.createDataFrame(sorted(mapping.items()), "record_id string, cluster_id string")


def _previous(spark, mapping):
    return spark.createDataFrame(sorted(mapping.items()), "record_id string, amperity_id string")


def _run(spark, clusters, previous):
    assignments, changes, pks = assign_stable_ids(
        _clusters(spark, clusters), None if previous is None else _previous(spark, previous))
    ids = {r.record_id: r.amperity_id for r in assignments.collect()}
    change_rows = {r.amperity_id: (r.change, list(r.related_ids), r.record_count,
                                   r.previous_record_count) for r in changes.collect()}
    pk_rows = {r.record_id: (r.old_id, r.new_id) for r in pks.collect()}
    return ids, change_rows, pk_rows


def test_uuid5_column_matches_python(spark):
    names = ["a", "crm:42", "pos:ünïcode", "x" * 300]
    df = spark.createDataFrame([(n,) for n in names], "name string")
    got = [r.u for r in df.select(uuid5_column(df["name"]).alias("u")).collect()]
    assert got == [str(uuid.uuid5(AMPERITY_ID_NAMESPACE, n)) for n in names]


def test_first_run_mints_from_smallest_record_id(spark):
    ids, changes, pks = _run(spark, {"crm:2": "c1", "crm:1": "c1", "pos:9": "c2"}, None)
    assert ids == {"crm:1": new_id_for("crm:1"), "crm:2": new_id_for("crm:1"),
                   "pos:9": new_id_for("pos:9")}
    assert changes[new_id_for("crm:1")] == ("new", [], 2, 0)
    assert pks["crm:2"] == (None, new_id_for("crm:1"))
    # idempotent: the same input gives the same ids
    assert _run(spark, {"crm:2": "c1", "crm:1": "c1", "pos:9": "c2"}, None)[0] == ids


def test_unchanged_and_new_record(spark):
    ids, changes, pks = _run(
        spark,
        {"a": "k1", "b": "k1", "c": "k2", "d": "k3"},
        {"a": X, "b": X, "c": Y},
    )
    assert ids == {"a": X, "b": X, "c": Y, "d": new_id_for("d")}
    assert changes[X] == ("unchanged", [], 2, 2)
    assert changes[Y] == ("unchanged", [], 1, 1)
    assert changes[new_id_for("d")] == ("new", [], 1, 0)
    assert pks == {"d": (None, new_id_for("d"))}


def test_new_record_joins_existing_cluster(spark):
    ids, changes, pks = _run(spark, {"a": "k", "b": "k", "n": "k"}, {"a": X, "b": X})
    assert ids == {"a": X, "b": X, "n": X}
    assert changes[X] == ("updated", [], 3, 2)
    assert pks == {"n": (None, X)}


def test_merge_majority_id_wins_other_retired(spark):
    ids, changes, pks = _run(spark, {"a": "k", "b": "k", "c": "k"}, {"a": Y, "b": Y, "c": X})
    assert set(ids.values()) == {Y}
    assert changes[Y] == ("merged", [X], 3, 2)
    assert changes[X] == ("retired", [Y], 0, 1)
    assert pks == {"c": (X, Y)}


def test_merge_tie_goes_to_smallest_id(spark):
    ids, changes, _ = _run(spark, {"a": "k", "b": "k"}, {"a": Y, "b": X})
    assert ids == {"a": X, "b": X}
    assert changes[Y][0] == "retired"


def test_split_majority_part_keeps_id(spark):
    ids, changes, pks = _run(
        spark,
        {"a": "k1", "b": "k2", "c": "k2"},
        {"a": X, "b": X, "c": X},
    )
    assert ids == {"a": new_id_for("a"), "b": X, "c": X}
    assert changes[X] == ("split", [new_id_for("a")], 2, 3)
    assert changes[new_id_for("a")] == ("split", [X], 1, 0)
    assert pks == {"a": (X, new_id_for("a"))}


def test_split_tie_goes_to_part_with_smallest_record(spark):
    ids, _, _ = _run(
        spark,
        {"a": "k2", "b": "k2", "c": "k1", "d": "k1"},
        {"a": X, "b": X, "c": X, "d": X},
    )
    assert ids == {"a": X, "b": X, "c": new_id_for("c"), "d": new_id_for("c")}


def test_minted_id_never_reuses_a_previous_id(spark):
    # X was minted from "a"; "a" splits off and the majority part keeps X, so the new
    # part must not get uuid5("a") again.
    old = new_id_for("a")
    ids, _, _ = _run(spark, {"a": "k1", "b": "k2", "c": "k2"}, {"a": old, "b": old, "c": old})
    assert ids["b"] == ids["c"] == old
    assert ids["a"] == new_id_for("a", 1) != old


def test_minted_id_skips_every_taken_next_id(spark):
    # "a"'s own id and its next five are held: by its old customer, by customers of this
    # run, and by one kept out of it (an incremental run's reserved ids).
    held = {f"x{n}": new_id_for("a", n) for n in range(1, 5)}
    clusters = {"a": "k1", "b": "k2", "c": "k2", **{r: r for r in held}}
    previous = {"a": new_id_for("a"), "b": new_id_for("a"), "c": new_id_for("a"), **held}
    reserved = spark.createDataFrame([(new_id_for("a", 5),)], "amperity_id string")
    assignments, _, _ = assign_stable_ids(_clusters(spark, clusters),
                                          _previous(spark, previous), reserved_ids=reserved)
    ids = {r.record_id: r.amperity_id for r in assignments.collect()}
    assert ids["b"] == ids["c"] == new_id_for("a")
    assert {r: ids[r] for r in held} == held
    assert ids["a"] == new_id_for("a", 6)


def test_each_previous_id_used_once_when_merge_and_split(spark):
    # a,b,c were X; d,e were Y. Now {a,b,d} and {c,e}: X (2) keeps {a,b,d}; Y is at 1
    # in both clusters -> the tie goes to the cluster with the smallest record_id, but
    # that cluster already holds X, so {c,e} gets Y.
    ids, changes, pks = _run(
        spark,
        {"a": "k1", "b": "k1", "d": "k1", "c": "k2", "e": "k2"},
        {"a": X, "b": X, "c": X, "d": Y, "e": Y},
    )
    assert ids == {"a": X, "b": X, "d": X, "c": Y, "e": Y}
    assert changes[X] == ("merged_split", [Y], 3, 3)
    assert changes[Y] == ("merged_split", [X], 2, 2)
    assert pks == {"d": (Y, X), "c": (X, Y)}


def test_removed_record_is_logged(spark):
    ids, changes, pks = _run(spark, {"a": "k"}, {"a": X, "gone": Z})
    assert ids == {"a": X}
    assert changes[Z] == ("retired", [], 0, 1)
    assert pks == {"gone": (Z, None)}
