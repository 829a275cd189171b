"""Probabilistic links with their explanation, beside deterministic ones."""

import pytest

from cdp_pipelines.stitch import matching
from cdp_pipelines_tests.stitch.matching.helpers import (
    frame,
    pairs,
    prior_weight,
    with_fixed_parameters,
)


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
    df = frame(spark, rows)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    edges = pairs(matching.predict_run(settings, df, spark, threshold=0.5).edges)

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
    assert sum(weights.values()) == pytest.approx(prob.match_weight - prior_weight(0.01))

    det = edges[("crm:2", "pos:2")]
    assert (det.match_type, det.match_key, det.match_probability) == (
        "deterministic", "phone_norm", 1.0)
    # the model's view of a deterministic pair is kept as its explanation
    assert det.explanation["birthdate_norm"] > 0 and "phone_norm" in det.explanation


def test_focused_scoring_scores_a_flagged_records_pairs_as_a_full_scoring_does(spark):
    from pyspark.sql import functions as F

    rows = [
        ("crm", "1", "jonathan", "smith", "js@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "jonathon", "smith", "other@y.io", None, "1980-01-02", "2000", None),
        # Smiths that no rule pairs with a flagged record: they still count in the
        # surname's term frequency, which a scoring of fewer records must keep.
        ("crm", "5", "anna", "smith", None, None, "1970-01-01", "7000", None),
        ("crm", "6", "bob", "smith", None, None, "1971-01-01", "7100", None),
        ("crm", "7", "carl", "smith", None, None, "1972-01-01", "7200", None),
        ("crm", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "3", "mary", "jones", None, None, "1975-05-05", "3000", None),
        # Found only by a rule comparing one column with another, flagged on its right.
        ("crm", "8", "james", "sebregts", None, None, "1985-04-04", "2600", None),
        ("web", "8", "sebretgs", "james", None, None, None, "2600", None),
        ("crm", "4", "jane", "doe", None, None, "1990-09-09", "5000", None),
    ]
    df = frame(spark, rows)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    full = pairs(matching.scored_pairs(settings, df, spark, threshold=0.0, names=False))
    flagged_ids = {"web:1", "pos:2", "web:8"}
    flag = F.when(F.concat_ws(":", "source", "pk").isin(*flagged_ids), "1").otherwise("0")
    focused = pairs(matching.scored_pairs(settings, df.withColumn("flag", flag), spark,
                                          threshold=0.0, names=False, focus="flag"))

    expected = {k: v for k, v in full.items() if flagged_ids & set(k)}
    assert {("crm:1", "web:1"), ("crm:2", "pos:2"), ("pos:2", "pos:3"),
            ("crm:8", "web:8")} <= set(expected)
    assert set(focused) == set(expected)
    for key, edge in expected.items():
        assert focused[key].match_weight == pytest.approx(edge.match_weight), key
        assert focused[key].explanation == pytest.approx(edge.explanation), key


def test_an_incremental_run_scores_last_runs_pairs_with_this_runs_term_frequencies(spark):
    """A pair of records that did not change keeps neither last run's weight nor its
    probability: the term frequencies it was scored with moved when other records came.
    Every pair ends as a scoring of all records scores it; a deterministic one keeps last
    run's weight, which does not decide its link."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.incremental import incremental_edges

    rows = [
        ("crm", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "3", "mary", "jones", None, None, "1975-05-05", "3000", None),
        ("crm", "5", "anna", "smith", None, None, "1970-01-01", "7000", None),
        ("web", "5", "anna", "smith", None, None, "1970-01-01", "7000", None),
        # Came this run: one more Smith and one more Jones shift both surnames' weights.
        ("web", "6", "bob", "smith", None, None, "1971-01-01", "7100", None),
        ("web", "7", "carl", "jones", None, None, "1972-01-01", "7200", None),
    ]
    df = matching.with_record_id(frame(spark, rows))
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    full = matching.predict_run(settings, df, spark, threshold=0.0)
    new = ["web:6", "web:7"]
    # Last run: these pairs as scored before the new records came (a weight a bit off).
    last = (full.edges.where(~F.col("record_id_l").isin(*new) & ~F.col("record_id_r").isin(*new))
            .withColumn("match_weight", F.col("match_weight") - 0.25)
            .withColumn("match_probability", F.col("match_probability") * 0.9))
    delta = spark.createDataFrame([(r, "new") for r in new], "record_id string, change string")

    run = incremental_edges(settings, df, spark, last, full.oversized, delta, 0.0, names=False)

    expected, got = pairs(full.edges), pairs(run.edges)
    assert {("crm:5", "web:5"), ("pos:2", "pos:3"), ("crm:2", "pos:2")} <= set(expected)
    assert set(got) == set(expected)
    for key, edge in expected.items():
        assert got[key].match_type == edge.match_type, key
        assert got[key].match_probability == pytest.approx(edge.match_probability), key
        if edge.match_type == "probabilistic":
            assert got[key].match_weight == pytest.approx(edge.match_weight), key
    assert expected[("crm:2", "pos:2")].match_type == "deterministic"
    assert got[("crm:2", "pos:2")].match_weight == pytest.approx(
        expected[("crm:2", "pos:2")].match_weight - 0.25)


def test_focused_pairs_are_splinks_own_blocked_pairs_of_the_flagged_records(spark):
    """Same pairs, orientation and match_key (first rule making the pair) as Splink's
    blocking of every record, for rules of equalities, a rule comparing one column with
    another and a rule that is no equality at all."""
    from pyspark.sql import functions as F
    from splink import Linker

    from cdp_pipelines.stitch.matching.focus import focused_pairs
    from cdp_pipelines.stitch.matching.linker import linker_input
    from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

    rows = [
        ("crm", "1", "ann", "lee", "a@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "ann", "lee", "a@x.io", None, None, "2000", None),
        ("pos", "1", "lee", "ann", None, None, "1980-01-02", "2000", None),
        ("crm", "2", "ann", "leigh", None, None, "1980-01-02", "2001", None),
        ("crm", "3", "bo", "lee", "a@x.io", None, None, None, None),
        ("pos", "3", "cy", "moe", None, None, None, "2000", None),
    ]
    df = frame(spark, rows)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    settings["blocking_rules_to_generate_predictions"].append(
        "levenshtein(l.surname_norm, r.surname_norm) <= 2 AND l.postal_norm = r.postal_norm")
    flagged_ids = {"crm:1", "pos:1"}
    flag = F.when(F.col("record_id").isin(*flagged_ids), "1").otherwise("0")
    records = linker_input(df, settings).withColumn("flag", flag)
    linker = Linker(splink_db_api(spark).register(records.drop("flag")), settings)
    splinks = {(r.join_key_l, r.join_key_r): r.match_key for r in
               linker.inference.compute_blocked_pairs_for_predict()
               .as_spark_dataframe().collect()}
    ours = {(r.join_key_l, r.join_key_r): r.match_key
            for r in focused_pairs(records, settings, "flag").collect()}

    expected = {k: v for k, v in splinks.items() if flagged_ids & set(k)}
    assert {("crm:1", "pos:1"), ("crm:1", "web:1"), ("crm:2", "pos:1")} <= set(expected)
    assert ours == expected


def test_a_rule_of_equalities_is_a_key_on_each_side() -> None:
    from cdp_pipelines.stitch.matching.focus import _sides

    assert _sides("(l.`given_name_norm` = r.`given_name_norm`) AND "
                  "(l.`postal_norm` = r.`postal_norm`)") == (
        ["`given_name_norm`", "`postal_norm`"], ["`given_name_norm`", "`postal_norm`"])
    assert _sides("l.given_name_norm = r.surname_norm AND "
                  "substr(r.given_name_norm, 1, 1) = substr(l.surname_norm, 1, 1)") == (
        ["given_name_norm", "substr(surname_norm, 1, 1)"],
        ["surname_norm", "substr(given_name_norm, 1, 1)"])
    # Anything else is blocked by a join of its own.
    assert _sides("levenshtein(l.email_norm, r.email_norm) <= 1") is None
    assert _sides("l.a = r.a OR l.b = r.b") is None
    assert _sides("l.a = l.b") is None
