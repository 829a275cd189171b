"""Stitch end to end through Dagster on a tiny tenant with hand-made duplicates."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines_tests.conftest import TINY_STITCH_ASSETS

HEADER = "customer_id,First Name,Last Name,email,birthdate,points,updated_at\n"
CUSTOMERS = HEADER + "\n".join([
    "s1,Robert,Smith,bob.smith@mail.com,03/04/1980,1,2026-11-01 09:00:00",
    "s2,Bob,Smith,BOB.SMITH@MAIL.COM ,03/04/1980,1,2026-11-01 09:00:00",  # same person
    "s3,Alice,Jones,alice.j@mail.com,07/08/1990,1,2026-11-01 09:00:00",
    "s4,Mary,Brown,test@test.com,01/01/1970,1,2026-11-01 09:00:00",     # junk email
    "s5,Peter,Green,test@test.com,02/02/1971,1,2026-11-01 09:00:00",    # junk email
    "s6,Zoe,White,shared@family.com,05/05/1985,1,2026-11-01 09:00:00",
    "s7,Adam,Black,shared@family.com,06/06/1960,1,2026-11-01 09:00:00",  # contradiction
]) + "\n"
MEMBERS = "member_id|full_name|email|loyalty_number\n" + "\n".join([
    "m1|Robert Smith|bob.smith@mail.com|L1",
    "m2|Alice Jones|alice.j@mail.com|L2",
    "m3|Carl King|carl@king.com|L3",
]) + "\n"


def _clusters(spark, lake: Path) -> dict[str, set[str]]:
    rows = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced").collect()
    by_id: dict[str, set[str]] = {}
    for r in rows:
        by_id.setdefault(r["amperity_id"], set()).add(r["pk"])
    return by_id


def _ids(spark, lake: Path) -> dict[str, str]:
    rows = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced").collect()
    return {r["record_id"]: r["amperity_id"] for r in rows}


def test_tiny_tenant_stitch(tiny_stitch, spark) -> None:
    drop, lake = tiny_stitch.drop, tiny_stitch.lake
    defs, instance, result = tiny_stitch.defs, tiny_stitch.instance, tiny_stitch.result
    selection = AssetSelection.assets(*TINY_STITCH_ASSETS)
    # The run log has each stage with its counts and seconds, and Splink's own lines.
    log = "\n".join(e.user_message for e in instance.all_logs(result.run_id))
    assert "stitch: preprocess: 10 records from 2 tables, 10 normalised in " in log
    assert "stitch: scoring pairs: " in log and " probabilistic pairs in " in log
    assert "stitch: stable ids: 10 records" in log
    assert "splink." in log
    # Splink's temporary views (a query plan each) went with the asset.
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith("__splink__")]
    # Names as written beside the normalised match keys.
    written = {r["pk"]: (r["given_name"], r["given_name_display"], r["surname_display"],
                         r["full_name_display"])
               for r in spark.read.format("delta").load(
                   f"{lake}/prod/stitch/unified_coalesced").collect()}
    assert written["s1"] == ("robert", "Robert", "Smith", "Robert Smith")
    assert written["m1"] == ("robert", None, None, "Robert Smith")
    clusters = sorted(sorted(pks) for pks in _clusters(spark, lake).values())
    assert clusters == sorted([
        ["m1", "s1", "s2"], ["m2", "s3"], ["m3"], ["s4"], ["s5"], ["s6"], ["s7"]])
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["every_record_has_an_id"] is True
    # Too few co-resident records to show the tenant has no households: the veto stays.
    guard = result.asset_materializations_for_node("stitch__unified_scores")[0].metadata
    assert guard["name_guard"].value.startswith("on (auto): 0 of 0 co-resident pairs")
    # ... and so match_threshold auto links pairs from 0.9, not from even odds.
    assert guard["match_threshold"].value == 0.9
    first = {frozenset(v): k for k, v in _clusters(spark, lake).items()}

    ids_before = _ids(spark, lake)

    # A second run with one new record and two changed ones (s1's points, s6's email: a
    # newer row for a known customer_id) keeps every existing amperity_id.
    (drop / "club" / "members_2.psv").write_text(
        "member_id|full_name|email|loyalty_number\nm4|Dana Fox|dana@fox.com|L4\n")
    (drop / "shop" / "customers_20261102.csv").write_text(HEADER + "\n".join([
        "s1,Robert,Smith,bob.smith@mail.com,03/04/1980,7,2026-11-02 09:00:00",
        "s6,Zoe,White,zoe.white@mail.com,05/05/1985,1,2026-11-02 09:00:00",
    ]) + "\n")
    again = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                        instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert again.success
    second = {frozenset(v): k for k, v in _clusters(spark, lake).items()}
    for members, amperity_id in first.items():
        assert second[members] == amperity_id
    assert frozenset({"m4"}) in second
    # The change log names exactly the records whose id is not what it was: the new one.
    ids_after = _ids(spark, lake)
    logged = {r["record_id"]: (r["old_id"], r["new_id"]) for r in spark.read.format("delta")
              .load(f"{lake}/prod/stitch/unified_changes_pks").collect()}
    assert logged == {r: (ids_before.get(r), ids_after[r]) for r in ids_after
                      if ids_before.get(r) != ids_after[r]}
    assert [r.split(":")[-1] for r in logged] == ["m4"]
