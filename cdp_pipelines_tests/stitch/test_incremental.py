"""Incremental Stitch on the tiny tenant: after a full run, a new record, a changed one
and a deleted one; the incremental run must end where a full run on a copy of the lake
ends, and only the touched customers may move."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.keys import STITCH_MODE_TAG
from cdp_pipelines.stitch.incremental import blockers, choose_mode, requested_mode
from cdp_pipelines_tests.conftest import TINY_TENANT
from cdp_pipelines_tests.stitch.test_assets import HEADER

SOURCES = [["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
           ["domain", "shop_customers"], ["domain", "club_members"]]
STITCH = [["stitch", name] for name in (
    "unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
    "unified_coalesced", "unified_changes_clusters", "unified_changes_pks")]
SCORES = ["stitch", "unified_scores"]


def _defs(lake: Path, drop: Path):
    return build_definitions({**os.environ, "CDP_LAKE_ROOT": str(lake),
                              "CDP_TENANT_DIR": str(TINY_TENANT), "CDP_TEST_DROP": str(drop)})


def _run(defs, keys, mode: str | None = None):
    result = materialize(list(defs.assets), resources=defs.resources,
                         selection=AssetSelection.assets(*keys),
                         instance=DagsterInstance.ephemeral(), raise_on_error=False,
                         tags={STITCH_MODE_TAG: mode} if mode else None)
    assert result.success
    return result


def _meta(result, asset: str, key: str):
    """Metadata `key` of stitch/`asset` in a run's result."""
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key.path == ["stitch", asset]]
    return event.materialization.metadata[key].value


def _table(spark, lake: Path, name: str):
    return spark.read.format("delta").load(f"{lake}/prod/stitch/{name}").collect()


def _ids(spark, lake: Path) -> dict[str, str]:
    return {r["pk"]: r["amperity_id"] for r in _table(spark, lake, "unified_coalesced")}


def _pk(record_id: str | None) -> str | None:
    return record_id.split(":")[-1] if record_id else None


def test_incremental_run_ends_where_a_full_run_ends(tmp_path: Path, spark,
                                                   tiny_stitch) -> None:
    # The first, full run: the session's first Stitch of the tiny tenant, copied.
    assert _meta(tiny_stitch.result, "unified_scores", "stitch_mode") == (
        "full (no previous Stitch run to build on)")
    lake, drop = tiny_stitch.copy_to(tmp_path)
    full_lake = tmp_path / "full_lake"
    defs = _defs(lake, drop)
    before = _ids(spark, lake)
    assert before == tiny_stitch.ids

    # A new record of a known customer (Alice Jones), a changed one (s5 becomes Carl King,
    # who is m3) and a deleted one (s2, one of Robert Smith's three records).
    (drop / "club" / "members_2.psv").write_text(
        "member_id|full_name|email|loyalty_number\nm4|Alice Jones|alice.j@mail.com|L9\n")
    (drop / "shop" / "customers_20261102.csv").write_text(
        HEADER + "s5,Carl,King,carl@king.com,02/02/1971,1,2026-11-02 09:00:00\n")
    _run(defs, SOURCES)
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, f"{lake}/prod/domain/shop_customers").delete(
        "customer_id = 's2'")
    shutil.copytree(lake, full_lake)

    inc = _run(defs, STITCH, mode="incremental")
    # Only the new and the changed record are normalised again, found in the change feeds
    # of the domain tables that changed.
    assert _meta(inc, "unified_preprocessed_raw", "records_normalised") == 2
    reads = _meta(inc, "unified_preprocessed_raw", "input_reads")
    assert reads["shop_customers"].startswith("change feed (versions ")
    assert reads["club_members"].startswith("change feed (versions ")
    assert _meta(inc, "unified_preprocessed_raw", "preprocess_mode").startswith("incremental")
    assert _meta(inc, "unified_scores", "stitch_mode") == "incremental (27.3% changed)"
    assert _meta(inc, "unified_scores", "records_rescored") == 2
    assert _meta(inc, "unified_coalesced", "stitch_mode").startswith("incremental")
    # (d) auto, the default, is full above incremental_max_share (3 of 11 records, the
    # deleted one counted).
    full = _run(_defs(full_lake, drop), STITCH)
    assert _meta(full, "unified_scores", "stitch_mode") == (
        "full (27.3% changed > incremental_max_share 5.0%)")
    assert _meta(full, "unified_coalesced", "records_reclustered") == 10
    # Untouched: s4, s6 and s7 were not re-clustered.
    assert _meta(inc, "unified_coalesced", "records_reclustered") == 7
    # Only their rows of unified_coalesced were rewritten: the 7, of which m4 is new,
    # and s2 deleted; the full run writes every row.
    assert _meta(inc, "unified_coalesced", "rows_written") == 8
    assert _meta(full, "unified_coalesced", "rows_written") == 10
    assert sorted(_table(spark, lake, "unified_coalesced")) == sorted(
        _table(spark, full_lake, "unified_coalesced"))

    after = _ids(spark, lake)
    # (a) Untouched records keep their ids; (b) ids and clusters equal the full run's.
    assert {pk: after[pk] for pk in ("s4", "s6", "s7")} == {
        pk: before[pk] for pk in ("s4", "s6", "s7")}
    assert after == _ids(spark, full_lake)
    clusters: dict[str, set[str]] = {}
    for pk, amperity_id in after.items():
        clusters.setdefault(amperity_id, set()).add(pk)
    assert sorted(sorted(c) for c in clusters.values()) == sorted([
        ["m1", "s1"], ["m2", "m4", "s3"], ["m3", "s5"], ["s4"], ["s6"], ["s7"]])
    assert after["s1"] == before["s1"]

    def edges(where: Path) -> dict:
        return {(r["record_id_l"], r["record_id_r"]): (r["match_type"], r["score"])
                for r in _table(spark, where, "unified_scores")}

    assert edges(lake) == edges(full_lake)
    # (c) The change tables name exactly the records and customers that moved, as a full
    # run's do.
    logged = {_pk(r["record_id"]): (r["old_id"], r["new_id"])
              for r in _table(spark, lake, "unified_changes_pks")}
    assert logged == {pk: (before.get(pk), after.get(pk)) for pk in {*before, *after}
                      if before.get(pk) != after.get(pk)}
    assert set(logged) >= {"m4", "s2"}

    def changes(where: Path, name: str) -> list:
        return sorted(tuple(json.dumps(v) if isinstance(v, list) else v
                            for k, v in r.asDict().items() if k != "run_id")
                      for r in _table(spark, where, name))

    for name in ("unified_changes_pks", "unified_changes_clusters"):
        assert changes(lake, name) == changes(full_lake, name)

    # (c') Nothing changed since: no pair is scored and the edges' table is not rewritten;
    # every id stays, and the change log is empty.
    version = DeltaTable.forPath(spark, f"{lake}/prod/stitch/unified_scores").history(1)
    idle = _run(defs, STITCH, mode="incremental")
    assert _meta(idle, "unified_scores", "stitch_mode") == "incremental (0.0% changed)"
    assert _meta(idle, "unified_scores", "records_rescored") == 0
    assert DeltaTable.forPath(spark, f"{lake}/prod/stitch/unified_scores").history(
        1).first()["version"] == version.first()["version"]
    assert edges(lake) == edges(full_lake)
    assert _ids(spark, lake) == after and not _table(spark, lake, "unified_changes_pks")
    assert _meta(idle, "unified_coalesced", "records_reclustered") == 0

    # (d) A changed stored model means a full run, even when incremental is asked for;
    # (e) the run tag forces a full run, even with nothing changed. (Scoring decides.)
    from cdp_pipelines.stitch.matching import load_model, save_model

    model_file = lake / "prod" / "stitch" / "models" / "current.json"
    model = load_model(model_file).settings
    save_model({**model, "probability_two_random_records_match": 0.001}, model_file)
    changed = _run(defs, [SCORES], mode="incremental")
    assert _meta(changed, "unified_scores", "stitch_mode") == "full (the stored model changed)"
    forced = _run(defs, [SCORES], mode="full")
    assert _meta(forced, "unified_scores", "stitch_mode") == (
        f"full (run tag {STITCH_MODE_TAG}=full)")

    # (f) The rows preprocess kept are the rows normalising every record again gives.
    preprocessed = ["stitch", "unified_preprocessed_raw"]
    again = _run(_defs(full_lake, drop), [preprocessed], mode="full")
    assert _meta(again, "unified_preprocessed_raw", "records_normalised") == 10
    assert _meta(again, "unified_preprocessed_raw", "preprocess_mode") == (
        f"full (run tag {STITCH_MODE_TAG}=full)")
    reused, fresh = (spark.read.format("delta").load(f"{where}/prod/stitch/{preprocessed[1]}")
                     for where in (lake, full_lake))
    assert reused.count() == 10 and reused.exceptAll(fresh).isEmpty()
    assert fresh.exceptAll(reused).isEmpty()


def test_preprocess_normalises_only_new_and_changed_records(spark) -> None:
    from cdp_pipelines.stitch.incremental import preprocess_fingerprint
    from cdp_pipelines.stitch.input_changes import reused_preprocessed, with_input_hash
    from cdp_pipelines.stitch.preprocess import preprocess

    schema = "source string, source_system string, pk string, given_name string, " \
             "surname string, phone string, _updated string"
    before = spark.createDataFrame([
        ("shop", "shop", "1", "Ann", "Lee", "206 555 0100", "2026-11-01"),
        ("shop", "shop", "2", "Bob", "Ray", "206 555 0101", "2026-11-01"),
        ("club", "club", "1", "Cy", "Dow", None, "2026-11-01")], schema)
    after = spark.createDataFrame([
        ("shop", "shop", "1", "Ann", "Lee", "206 555 0100", "2026-11-01"),  # unchanged
        ("shop", "shop", "2", "Bob", "Ray", "206 555 0199", "2026-11-02"),  # a new phone
        ("club", "club", "2", "Di", "Eve", None, "2026-11-02")], schema)  # new; club 1 gone
    previous = preprocess(with_input_hash(before)).localCheckpoint(eager=True)
    kept, todo = reused_preprocessed(with_input_hash(after), previous)
    assert [(r["source"], r["pk"]) for r in kept.collect()] == [("shop", "1")]
    assert sorted((r["source"], r["pk"]) for r in todo.collect()) == [
        ("club", "2"), ("shop", "2")]
    combined = kept.unionByName(preprocess(todo))
    full = preprocess(with_input_hash(after))
    assert combined.exceptAll(full).isEmpty() and full.exceptAll(combined).isEmpty()
    # Another default region or another input column: every record is normalised again.
    fingerprint = preprocess_fingerprint(with_input_hash(after), "US")
    assert fingerprint == preprocess_fingerprint(with_input_hash(before), "US")
    assert fingerprint != preprocess_fingerprint(with_input_hash(after), "GB")
    assert fingerprint != preprocess_fingerprint(
        with_input_hash(after.withColumn("email", after["phone"])), "US")


def test_touched_customers_are_closed_under_the_accepted_edges(spark) -> None:
    """From the seeds' customers and every new record, the search follows accepted edges
    to other customers, however far; a customer linked only through an internal edge, or
    not at all, stays untouched."""
    from cdp_pipelines.stitch.reclustering import touched_ids

    previous = spark.createDataFrame([
        ("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C"), ("c2", "C"), ("d1", "D"),
        ("e1", "E"), ("f1", "F"), ("f2", "F"), ("g1", "G"), ("x1", "X")],
        "record_id string, amperity_id string")
    # x1 is deleted this run; n1 and n2 are new.
    current = spark.createDataFrame([(r,) for r in (
        "a1", "a2", "b1", "c1", "c2", "d1", "e1", "f1", "f2", "g1", "n1", "n2")],
        "record_id string")
    accepted = spark.createDataFrame([
        ("a1", "a2"),  # inside A
        ("b1", "a1"), ("b1", "c2"),  # A - B - C, either side
        ("d1", "n1"), ("e1", "d1"),  # new n1 - D - E
        ("f1", "f2"),  # inside F: never reached
        ("n2", "n1")],  # two new records
        "record_id_l string, record_id_r string")
    seeds = spark.createDataFrame([("a2",)], "record_id string")
    found = touched_ids(previous, seeds, accepted, current)
    assert found.customers == {"A", "B", "C", "D", "E"}
    assert found.records == {"a1", "a2", "b1", "c1", "c2", "d1", "e1", "n1", "n2"}
    # A deleted record's customer is reached through its seed.
    found = touched_ids(previous, spark.createDataFrame([("x1",)], "record_id string"),
                        accepted, current)
    assert found.customers == {"X", "D", "E"}
    assert found.records == {"x1", "d1", "e1", "n1", "n2"}


def test_unchanged_customers_are_copied_from_last_runs_change_log(spark) -> None:
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.reclustering import _unchanged_customers

    untouched = spark.createDataFrame([("a1", "A"), ("a2", "A"), ("b1", "B")],
                                      "record_id string, amperity_id string")
    chosen = spark.createDataFrame([("C",)], "amperity_id string")
    log = spark.createDataFrame([
        ("A", "a1", "merged", 2), ("B", "b1", "new", 1), ("C", "c1", "updated", 4),
        ("R", None, "retired", 0)],
        "amperity_id string, cluster_id string, change string, record_count long")

    def rows(frame):
        return sorted(tuple(r) for r in frame.select(
            "amperity_id", "cluster_id", "change", F.size("related_ids"), "record_count",
            "previous_record_count").collect())

    expected = [("A", "a1", "unchanged", 0, 2, 2), ("B", "b1", "unchanged", 0, 1, 1)]
    assert rows(_unchanged_customers(untouched, chosen, log)) == expected
    assert rows(_unchanged_customers(untouched, chosen, None)) == expected
    # Copied, not counted: the log's own cluster_id comes through.
    renamed = log.withColumn("cluster_id", F.concat(F.lit("log:"), "cluster_id"))
    assert {r[1] for r in rows(_unchanged_customers(untouched, chosen, renamed))} == {
        "log:a1", "log:b1"}
    # A log that does not account for every untouched record is not trusted.
    short = log.where("amperity_id <> 'B'").unionByName(renamed.where("amperity_id = 'B'")
                                                       .withColumn("record_count", F.lit(5)))
    assert rows(_unchanged_customers(untouched, chosen, short)) == expected


def test_choose_mode() -> None:
    assert choose_mode("auto", "", [], 4, 100, 0.05).describe() == "incremental (4.0% changed)"
    assert choose_mode("auto", "", [], 6, 100, 0.05).describe() == (
        "full (6.0% changed > incremental_max_share 5.0%)")
    # Asked for, incremental ignores the share, but never a reason it cannot be exact.
    assert choose_mode("incremental", "", [], 60, 100, 0.05).mode == "incremental"
    assert choose_mode("incremental", "", ["the stored model changed"], 1, 100,
                       0.05).describe() == "full (the stored model changed)"
    assert choose_mode("full", "stitch.yaml mode: full", [], 0, 100, 0.05).describe() == (
        "full (stitch.yaml mode: full)")


def test_requested_mode() -> None:
    assert requested_mode("auto", {}) == ("auto", "stitch.yaml mode: auto")
    assert requested_mode("incremental", {STITCH_MODE_TAG: "full"}) == (
        "full", f"run tag {STITCH_MODE_TAG}=full")
    with pytest.raises(ValueError, match="cdp/stitch_mode='fast' is not one of"):
        requested_mode("auto", {STITCH_MODE_TAG: "fast"})


def test_blockers_name_what_changed() -> None:
    class Lake:
        def exists(self, *_):
            return True

    fingerprint = {"model_hash": "a", "name_guard": True, "columns": ["x"],
                   "match_threshold": 0.9}
    state = {"scored_run": "r1", "clustered_run": "r1", "mode": "full",
             "fingerprint": fingerprint}
    assert blockers(Lake(), state, fingerprint, model_trained=False) == []
    assert blockers(Lake(), state, {**fingerprint, "name_guard": False}, False) == [
        "the name-guard decision changed"]
    assert blockers(Lake(), {**state, "clustered_run": None}, fingerprint, False) == [
        "the last scored edges were never clustered"]
    assert blockers(Lake(), {**state, "mode": "unfinished"}, fingerprint, False) == [
        "the last scoring did not finish"]
    assert blockers(Lake(), state, fingerprint, model_trained=True) == [
        "the model was trained in this run"]
    assert blockers(Lake(), None, fingerprint, False) == ["no previous Stitch run to build on"]
