"""Blocking rules narrowed where name x area blocks are too big."""

import json

from cdp_pipelines.stitch import matching
from cdp_pipelines.stitch.matching import blocking


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
