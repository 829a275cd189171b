"""Comparisons: the location as one, the near-email level."""

import math

import pytest

from cdp_pipelines.stitch import matching
from cdp_pipelines_tests.stitch.matching.helpers import (
    frame,
    pairs,
    with_fixed_parameters,
)


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
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    location = [c for c in settings["comparisons"]
                if {"postal_norm", "city_norm", "state_norm"} & set(matching.comparison_inputs(c))]
    assert [c["output_column_name"] for c in location] == ["location"]
    edges = pairs(matching.predict_run(settings, df, spark, threshold=0.5).edges)
    assert set(edges) == {("crm:2", "pos:2")}
    assert set(edges[("crm:2", "pos:2")].explanation) == {
        "given_name_norm", "surname_norm", "location"}


def test_one_edit_in_an_email_is_a_typo_unless_it_is_another_account(spark):
    """A typo in the domain or in the mailbox's letters is the near-email level; one edit
    that only changes a digit or a separator is another account made of the same name
    (namesakes' "donald_sullivan@" / "donald.sullivan@"): it counts against the pair."""
    emails = {
        "1": ("donald", "sullivan", "donald_sullivan@mail.com", "donald.sullivan@mail.com"),
        "2": ("julie", "williams", "williamsj86@mail.com", "williamsj96@mail.com"),
        "3": ("amy", "harris", "amy.harris@hotmail.com", "amy.harris@hotmal.com"),
        "4": ("jon", "smith", "jonh.smith@mail.com", "john.smith@mail.com"),
    }
    rows = [(source, pk, given, surname, email, None, None, None, None)
            for pk, (given, surname, *both) in emails.items()
            for source, email in zip(("crm", "pos"), both)]
    df = frame(spark, rows)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    edges = pairs(matching.scored_pairs(settings, df, spark, threshold=0.0, names=False))
    weight = {pk: edges[(f"crm:{pk}", f"pos:{pk}")].explanation["email_norm"]
              for pk in emails}
    near, other = 0.1 / 0.005, 0.05 / 0.9  # with_fixed_parameters' Bayes factors
    assert weight["3"] == pytest.approx(math.log2(near))
    assert weight["4"] == pytest.approx(math.log2(near))
    assert weight["1"] == pytest.approx(math.log2(other))
    assert weight["2"] == pytest.approx(math.log2(other))
