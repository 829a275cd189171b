"""The guard's household evidence and when its name veto is on."""

import pytest

from cdp_pipelines.stitch import matching


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


def test_match_threshold_auto_is_even_odds_only_without_households():
    seen = matching.HouseholdEvidence
    assert matching.match_threshold("auto", None) == 0.9  # name_guard on/off: no evidence
    assert matching.match_threshold("auto", seen(40, 0)) == 0.9  # too few pairs to tell
    assert matching.match_threshold("auto", seen(900, 100)) == 0.9  # households
    assert matching.match_threshold("auto", seen(990, 10)) == 0.5  # none
    assert matching.match_threshold(0.8, seen(990, 10)) == 0.8  # a number is kept


def test_match_threshold_is_a_probability_or_auto():
    from pydantic import ValidationError

    from cdp_pipelines.tenant.stitch import StitchSpec

    assert StitchSpec().match_threshold == "auto"
    assert StitchSpec(match_threshold=0.95).match_threshold == 0.95
    for bad in (0, 1.5, "lots"):
        with pytest.raises(ValidationError, match="match_threshold"):
            StitchSpec(match_threshold=bad)
