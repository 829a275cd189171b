"""Blocking rules, narrowed where name x area (or door) blocks are too big."""

import json

from cdp_pipelines.stitch import matching
from cdp_pipelines.stitch.matching import blocking
from cdp_pipelines_tests.stitch.matching.helpers import pairs, with_fixed_parameters


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


DOOR_COLS = ("source string, pk string, given_name_norm string, surname_norm string, "
             "address_norm string, house_number string, postal_norm string, "
             "birthdate_norm string")


def test_one_door_pairs_a_person_whose_names_and_street_were_all_mistyped(spark):
    rows = [
        ("crm", "1", "bianca", "cobbett", "32 YERRALEE RD", "32", "3083", "1980-01-02"),
        # No name, street or birthdate the same: only the door (postal + number) pairs it.
        ("web", "1", "biana", "cbobett", "32 YERALEE RD", "32", "3083", None),
        # The same typos two doors down: never compared, so never linked.
        ("pos", "1", "bianka", "cobett", "34 YERALLEE RD", "34", "3083", None),
    ]
    df = spark.createDataFrame(rows, DOOR_COLS)
    settings = with_fixed_parameters(matching.build_settings(df.columns, set()))
    edges = pairs(matching.predict_run(settings, df, spark, threshold=0.01).edges)
    assert set(edges) == {("crm:1", "web:1")}
    assert edges[("crm:1", "web:1")].match_probability > 0.9


def test_a_wide_door_is_narrowed_by_the_surnames_initial(spark, monkeypatch):
    # A tower: 30 records at one postal code and house number (435 pairs); budget 100.
    rows = [("crm", str(i), f"g{i}", f"{'ab'[i % 2]}name{i}", f"1 TOWER ST APT {i}", "1",
             "2000", None) for i in range(30)]
    df = spark.createDataFrame(rows, DOOR_COLS)
    monkeypatch.setattr(blocking, "WIDE_BLOCK_MIN_PAIRS", 100)
    wide = matching.wide_blocks(df)
    assert frozenset(blocking.DOOR_COLUMNS) in wide
    rules = json.dumps(matching.build_settings(df.columns, wide)
                       ["blocking_rules_to_generate_predictions"])
    assert "l.`house_number` = r.`house_number`" in rules
    assert "SUBSTRING(l.surname_norm, 1, 1)" in rules
    small = json.dumps(matching.build_settings(df.columns, set())
                       ["blocking_rules_to_generate_predictions"])
    assert "l.`house_number` = r.`house_number`" in small
    assert "SUBSTRING(l.surname_norm, 1, 1)" not in small
