"""Stitch matching: guarded deterministic edges, derived Splink settings, explained
probabilistic links, scores and the model artifact."""

import json

import pytest

from cdp_pipelines.stitch import matching
from cdp_pipelines.stitch.matching import blocking
from cdp_pipelines.stitch import normalize as nz

COLS = ("source string, pk string, given_name_norm string, surname_norm string, "
        "email_norm string, phone_norm string, birthdate_norm string, "
        "postal_norm string, sk string")


def _frame(spark, rows):
    return spark.createDataFrame(rows, COLS)


def _pairs(edges):
    return {(r.record_id_l, r.record_id_r): r for r in edges.collect()}


def test_deterministic_edges_and_guards(spark):
    rows = [
        # same email, same person: linked
        ("crm", "1", "anna", "berg", "anna@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "anna", "berg", "anna@x.io", None, None, None, None),
        # same phone, names clearly contradict (given AND surname): not linked
        ("crm", "2", "alice", "brown", None, "+61400000001", None, None, None),
        ("pos", "2", "zoe", "green", None, "+61400000001", None, None, None),
        # same email, nickname with a confirming surname: linked
        ("crm", "3", "bob", "smith", "bs@x.io", None, None, None, None),
        ("pos", "3", "robert", "smith", "bs@x.io", None, None, None, None),
        # same email, different separation keys: not linked
        ("crm", "4", "peter", "pan", "pp@x.io", None, None, None, "A"),
        ("web", "4", "peter", "pan", "pp@x.io", None, None, None, "B"),
        # same email, different birthdates: not linked
        ("crm", "5", "kim", "lee", "kl@x.io", None, "1990-01-01", None, None),
        ("web", "5", "kim", "lee", "kl@x.io", None, "1991-02-02", None, None),
        # same email and phone: one edge naming both identifiers
        ("crm", "6", "li", "wu", "lw@x.io", "+61400000006", None, None, None),
        ("web", "6", "li", "wu", "lw@x.io", "+61400000006", None, None, None),
        # swapped names, and a single name that is the other record's surname: linked
        ("crm", "7", "scott", "aaron", "sa@x.io", None, None, None, None),
        ("web", "7", "aaron", "scott", "sa@x.io", None, None, None, None),
        ("crm", "8", "aaron", None, "as@x.io", None, None, None, None),
        ("web", "8", "scott", "aaron", "as@x.io", None, None, None, None),
        # rhyming names of a household (Jaro-Winkler 0.73, two edits): not linked
        ("crm", "9", "logan", "simpson", "ls@x.io", None, None, None, None),
        ("web", "9", "megan", "simpson", "ls@x.io", None, None, None, None),
        # a one-letter typo and a nickname whose formal name is ambiguous: linked
        ("crm", "10", "jon", "park", "jp@x.io", None, None, None, None),
        ("web", "10", "jan", "park", "jp@x.io", None, None, None, None),
        ("crm", "11", "harry", "stone", "hs@x.io", None, None, None, None),
        ("web", "11", "harold", "stone", "hs@x.io", None, None, None, None),
        # swapped, the given name as a nickname; a mistyped nickname: linked
        ("crm", "12", "hank", "marshall", "hm@x.io", None, None, None, None),
        ("web", "12", "marshall", "henry", "hm@x.io", None, None, None, None),
        ("crm", "13", "icndy", "graham", "cg@x.io", None, None, None, None),
        ("web", "13", "cynthia", "graham", "cg@x.io", None, None, None, None),
        # a record with only a family email whose mailbox names another member: not
        # linked to Margaret; one that names her (or only her surname): linked
        ("crm", "14", "margaret", "gomez", "jack_gomez@x.io", None, None, None, None),
        ("web", "14", None, None, "jack_gomez@x.io", None, None, None, None),
        ("crm", "15", "margaret", "gomez", "m.gomez77@x.io", None, None, None, None),
        ("web", "15", None, None, "m.gomez77@x.io", None, None, None, None),
        ("crm", "16", "peggy", "gomez", "gomez77@x.io", None, None, None, None),
        ("web", "16", None, None, "gomez77@x.io", None, None, None, None),
    ]
    df = _frame(spark, rows)
    df = df.join(spark.createDataFrame(
        [(n, nz.canonical_given_name(n), nz.given_name_forms(n))
         for n in {r[2] for r in rows if r[2]}],
        "given_name_norm string, given_name_canonical string, given_name_forms string"),
        "given_name_norm", "left")
    edges = _pairs(matching.deterministic_edges(df, spark))
    assert set(edges) == {("crm:1", "web:1"), ("crm:3", "pos:3"), ("crm:6", "web:6"),
                          ("crm:7", "web:7"), ("crm:8", "web:8"), ("crm:10", "web:10"),
                          ("crm:11", "web:11"), ("crm:12", "web:12"), ("crm:13", "web:13"),
                          ("crm:15", "web:15"), ("crm:16", "web:16")}
    assert edges[("crm:1", "web:1")].match_key == "email_norm"
    assert edges[("crm:6", "web:6")].match_key == "email_norm,phone_norm"

    # Without the name veto (a tenant without households) only keys and birthdates part.
    loose = set(_pairs(matching.deterministic_edges(df, spark, names=False)))
    assert loose == set(edges) | {("crm:2", "pos:2"), ("crm:9", "web:9"), ("crm:14", "web:14")}


def test_household_evidence_counts_telling_co_resident_pairs(spark):
    from pyspark.sql import functions as F

    rows = [
        # the smiths: two people (names and birthdates differ), john keyed twice
        ("1", "john", "smith", "1970-01-01", "1 main st"),
        ("2", "mary", "smith", "1972-05-05", "1 main st"),
        ("3", "john", "smith", "1970-01-01", "1 main st"),
        # a birthdate one typo apart is one person
        ("4", "anna", "berg", "1980-02-03", "2 high st"),
        ("5", "anna", "berg", "1980-02-04", "2 high st"),
        # no birthdate, or another address: tells nothing
        ("6", "eve", "stone", None, "3 low rd"),
        ("7", "adam", "stone", "1960-01-01", "3 low rd"),
        ("8", "mary", "smith", "1972-05-05", "9 far rd"),
        # one name and birthdate at a name keyed more than 20 times: an institution
        *[(f"h{i}", "pat", "home", "1930-01-01", "9 care rd") for i in range(21)],
    ]
    df = matching.with_record_id(spark.createDataFrame(
        [("crm", *r) for r in rows], "source string, pk string, given_name_norm string, "
        "surname_norm string, birthdate_norm string, address_norm string")
    ).withColumn("given_name_canonical", F.col("given_name_norm"))
    evidence = matching.household_evidence(df)
    assert evidence == matching.HouseholdEvidence(alike=2, differing=2)
    assert evidence.household_share == 0.5
    assert matching.household_evidence(df.drop("birthdate_norm")).pairs == 0


def test_name_guard_follows_households():
    seen = matching.HouseholdEvidence
    assert matching.name_guard_on("auto", None)
    assert matching.name_guard_on("auto", seen(40, 0))  # too few pairs to tell
    assert not matching.name_guard_on("auto", seen(990, 10))  # 1%: double typos only
    assert matching.name_guard_on("auto", seen(900, 100))
    assert not matching.name_guard_on("off", seen(0, 500))
    assert matching.name_guard_on("on", seen(1000, 0))
    with pytest.raises(ValueError, match="name_guard"):
        matching.name_guard_on("maybe", None)


def test_oversized_identifier_group_is_skipped(spark):
    rows = [("pos", str(i), f"name{i}", None, "shared@x.io", None, None, None, None)
            for i in range(4)]
    edges = matching.deterministic_edges(_frame(spark, rows), spark, max_group_size=3)
    assert edges.count() == 0


def test_build_settings_follows_columns():
    settings = matching.build_settings(
        ["source", "pk", "given_name_norm", "surname_norm", "postal_norm", "fk_crm"])
    names = [c["output_column_name"] for c in settings["comparisons"]]
    assert names == ["given_name_norm", "surname_norm", "location", "fk_crm"]
    rules = json.dumps(settings["blocking_rules_to_generate_predictions"])
    assert "fk_crm" in rules and "email_norm" not in rules
    assert settings["unique_id_column_name"] == "record_id"
    json.dumps(settings)  # plain data
    with pytest.raises(ValueError, match="no comparable column"):
        matching.build_settings(["source", "pk", "sk"])


def test_wide_name_and_town_blocks_are_narrowed(spark, monkeypatch):
    # 30 smiths of one postal code (435 pairs) in two towns (2 x 105 pairs), all with
    # different given names (no pairs); the budget is max(100, 2 per record) = 100.
    rows = [("crm", str(i), f"g{i}", "smith", "2000", f"town{i % 2}", f"G{i:03d}", "S530")
            for i in range(30)]
    df = spark.createDataFrame(rows, "source string, pk string, given_name_norm string, "
                                     "surname_norm string, postal_norm string, city_norm string, "
                                     "given_name_soundex string, surname_soundex string")
    monkeypatch.setattr(blocking, "WIDE_BLOCK_MIN_PAIRS", 100)
    wide = matching.wide_blocks(df)
    assert wide == {frozenset(("surname_norm", "postal_norm")),
                    frozenset(("surname_norm", "city_norm"))}
    rules = json.dumps(matching.build_settings(df.columns, wide)
                       ["blocking_rules_to_generate_predictions"])
    assert "SUBSTRING(l.given_name_norm, 1, 1)" in rules  # surname x postal, x city
    assert "SUBSTRING(l.surname_norm, 1, 1)" not in rules  # given x postal, x city: small
    assert "given_name_soundex" in rules  # sound-alike names: no pairs here
    narrow_all = json.dumps(matching.build_settings(df.columns)
                            ["blocking_rules_to_generate_predictions"])
    assert "SUBSTRING(l.surname_norm, 1, 1)" in narrow_all
    assert "given_name_soundex" not in narrow_all  # unsized: left out


def _with_fixed_parameters(settings):
    """Hand-set m/u: exact agreement strong evidence, fuzzy weaker, else against."""
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for i, level in enumerate(levels):
            if i == len(levels) - 1:
                level["m_probability"], level["u_probability"] = 0.05, 0.9
            elif i == 0:
                level["m_probability"], level["u_probability"] = 0.8, 0.01
            else:
                level["m_probability"], level["u_probability"] = 0.1, 0.005
    settings["probability_two_random_records_match"] = 0.01
    return settings


def test_predict_probabilistic_link_is_explained(spark):
    rows = [
        ("crm", "1", "jonathan", "smith", "js@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "jonathon", "smith", "other@y.io", None, "1980-01-02", "2000", None),
        ("crm", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("crm", "3", "peter", "pan", None, None, "1960-03-03", "4000", "A"),
        ("web", "3", "peter", "pan", None, None, "1960-03-03", "4000", "B"),
        ("crm", "4", "jane", "doe", None, None, "1990-09-09", "5000", None),
    ]
    df = _frame(spark, rows)
    settings = _with_fixed_parameters(matching.build_settings(df.columns))
    edges = _pairs(matching.predict(settings, df, spark, threshold=0.5))

    assert set(edges) == {("crm:1", "web:1"), ("crm:2", "pos:2")}
    prob = edges[("crm:1", "web:1")]
    assert prob.match_type == "probabilistic"
    assert prob.match_key is None
    assert 0.5 <= prob.match_probability < 1.0
    weights = prob.explanation
    assert set(weights) == {"given_name_norm", "surname_norm", "email_norm", "phone_norm",
                            "birthdate_norm", "location"}
    assert weights["surname_norm"] > 0 and weights["birthdate_norm"] > 0
    assert weights["email_norm"] < 0  # different emails count against the match
    assert weights["phone_norm"] == 0  # both missing: no evidence
    assert sum(weights.values()) == pytest.approx(prob.match_weight - _prior_weight(0.01))

    det = edges[("crm:2", "pos:2")]
    assert (det.match_type, det.match_key, det.match_probability) == (
        "deterministic", "phone_norm", 1.0)
    # the model's view of a deterministic pair is kept as its explanation
    assert det.explanation["birthdate_norm"] > 0 and "phone_norm" in det.explanation


def test_location_counts_once(spark):
    """Street, postal code, city and state are one comparison: two namesakes of one town
    with different streets and surnames are not a match, while the same person at the
    same address is, and the explanation names the location once."""
    cols = ("source string, pk string, given_name_norm string, surname_norm string, "
            "address_norm string, postal_norm string, city_norm string, state_norm string")
    rows = [
        ("crm", "1", "wayne", "nguyen", "91 UNION PL", "15213", "PITTSBURGH", "PA"),
        ("pos", "1", "wayne", "coleman", "9589 FOREST LN", "15213", "PITTSBURGH", "PA"),
        ("crm", "2", "janet", "harris", "87 WOODLAND RD", "15217", "PITTSBURGH", "PA"),
        ("pos", "2", "janet", "harris", "87 WOODLAND RD", "15217", "PITTSBURGH", "PA"),
    ]
    df = spark.createDataFrame(rows, cols)
    settings = _with_fixed_parameters(matching.build_settings(df.columns))
    location = [c for c in settings["comparisons"]
                if {"postal_norm", "city_norm", "state_norm"} & set(matching.comparison_inputs(c))]
    assert [c["output_column_name"] for c in location] == ["location"]
    edges = _pairs(matching.predict(settings, df, spark, threshold=0.5))
    assert set(edges) == {("crm:2", "pos:2")}
    assert set(edges[("crm:2", "pos:2")].explanation) == {
        "given_name_norm", "surname_norm", "location"}


def _prior_weight(p):
    import math

    return math.log2(p / (1 - p))


def test_score_bands():
    assert matching.score_0_5(1.0) == (5, "exact")
    assert matching.score_0_5(0.995) == (4, "strong")
    assert matching.score_0_5(0.9) == (3, "good")
    assert matching.score_0_5(0.6) == (2, "weak")
    assert matching.score_0_5(0.2) == (1, "poor")
    assert matching.score_0_5(0.01) == (0, "none")
    assert matching.score_0_5(None) == (0, "none")


def test_with_scores_matches_python_bands(spark):
    probs = [1.0, 0.995, 0.9, 0.6, 0.2, 0.01]
    df = spark.createDataFrame([(p,) for p in probs], "match_probability double")
    got = [(r.score, r.match_category) for r in matching.with_scores(df).collect()]
    assert got == [matching.score_0_5(p) for p in probs]


def test_model_artifact_roundtrip(tmp_path):
    settings = matching.build_settings(["source", "pk", "email_norm", "surname_norm"])
    path = tmp_path / "models" / "stitch.json"
    version = matching.save_model(settings, path)
    model = matching.load_model(path)
    assert model.settings == settings
    assert model.version == version and version.startswith(model.content_hash[:12])
    assert matching.model_fits_columns(model.settings, ["email_norm", "surname_norm"])
    assert not matching.model_fits_columns(model.settings, ["email_norm"])

    payload = json.loads(path.read_text())
    payload["settings"]["probability_two_random_records_match"] = 0.5
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="content hash"):
        matching.load_model(path)
    with pytest.raises(FileNotFoundError, match="train first"):
        matching.load_model(tmp_path / "missing.json")


def test_household_sharing_an_email_does_not_link_deterministically(spark) -> None:
    from cdp_pipelines.stitch.matching import deterministic_edges, with_record_id

    rows = [
        # a household: same surname and email, different given names
        ("crm", "1", "john", "john", "smith", "fam@x.io"),
        ("pos", "1", "mary", "mary", "smith", "fam@x.io"),
        # a nickname, known by its canonical form
        ("crm", "2", "bob", "robert", "stone", "bob@x.io"),
        ("pos", "2", "robert", "robert", "stone", "bob@x.io"),
        # given name and surname swapped between the two records
        ("crm", "3", "green", "green", "alice", "ag@x.io"),
        ("pos", "3", "alice", "alice", "green", "ag@x.io"),
    ]
    df = with_record_id(spark.createDataFrame(
        rows, "source string, pk string, given_name_norm string, given_name_canonical string,"
              " surname_norm string, email_norm string"))
    edges = {(r["record_id_l"], r["record_id_r"])
             for r in deterministic_edges(df, spark).collect()}
    assert edges == {("crm:2", "pos:2"), ("crm:3", "pos:3")}


def test_splink_work_folder_goes_with_the_process(tmp_path) -> None:
    """Splink's intermediate tables (hundreds of MB on big inputs) do not outlive the run."""
    import os
    import subprocess
    import sys

    child = (
        "from cdp_pipelines.resources.spark import build_spark_session\n"
        "from cdp_pipelines.stitch.matching import splink_db_api\n"
        "spark = build_spark_session('local[1]', 1)\n"
        "splink_db_api(spark)\n"
        "spark.range(3).checkpoint()\n"
        "print(spark.sparkContext._jsc.sc().getCheckpointDir().get())\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    folder = done.stdout.strip().splitlines()[-1]
    assert str(tmp_path) in folder and "cdp-splink-" in folder
    assert not list(tmp_path.glob("cdp-splink-*"))
