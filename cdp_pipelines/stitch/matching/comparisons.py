"""Splink comparisons, chosen by the columns a tenant has."""

from __future__ import annotations

from typing import Any

from cdp_pipelines.stitch.matching.records import fk_columns

# Both names of a swapped pair at least this similar to the other record's (Jaro-Winkler).
SWAPPED_JW = 0.88


def _name_comparison(col: str, swap_with: str | None):
    """Splink's NameComparison levels (exact with term frequencies, Jaro-Winkler 0.92,
    0.88, 0.7, else) plus, with `swap_with`, a level for given name and surname swapped
    between the two records ("Smith John" / "John Smith"), which would otherwise count
    as two disagreements."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list = [cll.NullLevel(col),
                    cll.ExactMatchLevel(col).configure(tf_adjustment_column=col)]
    if swap_with:
        levels.append(cll.ColumnsReversedLevel(col, swap_with, symmetrical=True))
        # Swapped, and one of the names mistyped on the way ("sebretgs james" / "james
        # sebregts"): without this level the pair is two disagreeing names.
        levels.append(cll.CustomLevel(
            f"jaro_winkler({col}_l, {swap_with}_r) >= {SWAPPED_JW} AND "
            f"jaro_winkler({swap_with}_l, {col}_r) >= {SWAPPED_JW}",
            label_for_charts=f"{col} and {swap_with} swapped, Jaro-Winkler >= {SWAPPED_JW}"))
    levels += [cll.JaroWinklerLevel(col, t) for t in (0.92, 0.88, 0.7)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=col)


def _one_edit_level(col: str, *also):
    """The two sides of `col` are at most one typo apart (Damerau-Levenshtein <= 1), and
    the levels `also` hold. Spark's native levenshtein with a bound (it gives up beyond 2
    edits, and a transposition is 2) rules out almost every pair before the
    Damerau-Levenshtein UDF runs: on 2.15M random email pairs 0.9 s instead of 25 s, the
    same matches."""
    import splink.comparison_level_library as cll

    # Splink has no level for Spark's bounded levenshtein (LevenshteinLevel computes the
    # whole distance, the cost this avoids): custom SQL.
    bounded = cll.CustomLevel(f"levenshtein({col}_l, {col}_r, 2) >= 0")
    return cll.And(bounded, cll.DamerauLevenshteinLevel(col, 1), *also).configure(
        label_for_charts=f"Damerau-Levenshtein distance of {col} <= 1")


def _one_edit_comparison(col: str, term_frequencies: bool, *typo):
    """Exact (with term frequencies if asked), one typo apart (and the levels `typo`
    hold), else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    exact = cll.ExactMatchLevel(col)
    if term_frequencies:
        exact = exact.configure(tf_adjustment_column=col)
    return cl.CustomComparison(
        [cll.NullLevel(col), exact, _one_edit_level(col, *typo), cll.ElseLevel()],
        output_column_name=col)


# What people add to a mailbox made of their name to make it their own: digits and
# separators ("john.smith" / "john_smith" / "johnsmith2").
MAILBOX_MARKS = "[0-9._+-]"


def _email_comparison(col: str):
    """Exact email, one typo apart ("hotmal.com", "jonh.smith@"), else. Splink's
    EmailComparison also rewards similar mailboxes ("amy.harrison671@" /
    "amy.harrison194@"), but mailboxes are made of names: at a million records that
    level linked namesakes. So does one edit that only changes a digit or a separator
    ("donald_sullivan@" / "donald.sullivan@", "williamsj86@" / "williamsj96@"): that is
    another account of the same letters, not a typo, and is not counted as one. At 1M
    demo records every such accepted pair (15,654) joined two people."""
    import splink.comparison_level_library as cll

    box = {side: f"substring_index({col}_{side}, '@', 1)" for side in "lr"}
    letters = {side: f"regexp_replace({box[side]}, '{MAILBOX_MARKS}', '')" for side in "lr"}
    other_account = cll.CustomLevel(
        f"NOT ({box['l']} <> {box['r']} AND {letters['l']} = {letters['r']})")
    return _one_edit_comparison(col, True, other_account)


def choose_comparisons(cols: set[str]) -> list:
    """The comparisons of a model over the columns present, in a fixed order."""
    import splink.comparison_library as cl

    comps: list = []
    both_names = {"given_name_norm", "surname_norm"} <= cols
    for name_col in ("given_name_norm", "surname_norm"):
        if name_col in cols:
            # The swap is one observation: a level on the given name only, else a swapped
            # pair would score it twice and outweigh two namesakes agreeing in full.
            comps.append(_name_comparison(name_col, swap_with=(
                "surname_norm" if both_names and name_col == "given_name_norm" else None)))
    if "full_name_norm" in cols and not both_names:
        comps.append(cl.JaroWinklerAtThresholds("full_name_norm", [0.92, 0.8]).configure(
            term_frequency_adjustments=True))
    if "birthdate_norm" in cols:
        comps.append(cl.DateOfBirthComparison(
            "birthdate_norm", input_is_string=True, datetime_format="yyyy-MM-dd"))
    if "email_norm" in cols:
        comps.append(_email_comparison("email_norm"))
    if "phone_norm" in cols:
        comps.append(_one_edit_comparison("phone_norm", term_frequencies=True))
    location = _location_comparison(cols)
    if location is not None:
        comps.append(location)
    for exact_col in ("country_norm", "gender_norm"):
        if exact_col in cols:
            comps.append(cl.ExactMatch(exact_col))
    if "loyalty_id_norm" in cols:
        comps.append(_one_edit_comparison("loyalty_id_norm", term_frequencies=False))
    for fk in fk_columns(cols):
        comps.append(cl.ExactMatch(fk))
    return comps


LOCATION = "location"
LOCATION_COLUMNS = ("address_norm", "address2_norm", "postal_norm", "city_norm", "state_norm")


def _location_comparison(cols: set[str]):
    """Where the two records live, as one comparison whose levels say which of street,
    postal code and city agree (allowing a typo in each): the very same street with
    postal code or city, all three, the street and one of the others, the street alone,
    postal code and city, postal code, city, state, nothing. Compared one by one, a
    shared postal code would also count as a shared city and state, and two namesakes of
    one town would outweigh their different streets and surnames; as levels of one
    comparison, EM learns what each combination is worth."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    present = [c for c in LOCATION_COLUMNS if c in cols]
    if not present:
        return None

    def agrees(c: str, level):  # both sides have a value, and they agree
        return cll.And(cll.Not(cll.NullLevel(c)), level)

    street = next((c for c in ("address_norm", "address2_norm") if c in cols), None)
    agree = {}
    if street:
        agree["street"] = agrees(street, cll.JaroWinklerLevel(street, 0.88))
    if "postal_norm" in cols:
        agree["postal"] = agrees("postal_norm", _one_edit_level("postal_norm"))
    if "city_norm" in cols:
        agree["city"] = agrees("city_norm", cll.JaroWinklerLevel("city_norm", 0.88))
    if "state_norm" in cols:
        agree["state"] = agrees("state_norm", cll.ExactMatchLevel("state_norm"))

    # No field has a value on both sides (Splink takes an And of null levels as one).
    levels: list = [cll.And(*(cll.NullLevel(c) for c in present)).configure(
        label_for_charts="no shared location field")]

    def level(label: str, *parts) -> None:
        levels.append(cll.And(*parts).configure(label_for_charts=label))

    area = [agree[k] for k in ("postal", "city") if k in agree]
    some_area = cll.Or(*area) if area else None
    if "street" in agree:
        same_street = agrees(street, cll.ExactMatchLevel(street))
        if area:
            level("same street, postal code or city agree", same_street, some_area)
        if len(area) == 2:
            level("street, postal code and city agree", agree["street"], *area)
        if area:
            level("street and postal code or city agree", agree["street"], some_area)
        level("street agrees", agree["street"])
    if len(area) == 2:
        level("postal code and city agree", *area)
    if "postal" in agree:
        level("postal code agrees", agree["postal"])
    if "city" in agree:
        level("city agrees", agree["city"])
    if "state" in agree:
        level("state agrees", agree["state"])
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=LOCATION,
                               comparison_description="location: " + ", ".join(present))


def comparison_inputs(comparison: dict[str, Any]) -> list[str]:
    """The input columns one comparison of a settings dict reads (<col>_l in its SQL)."""
    import re

    found: list[str] = []
    for level in comparison.get("comparison_levels", []):
        for col in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)_l\b", level.get("sql_condition", "")):
            if col not in found:
                found.append(col)
    return found or [comparison["output_column_name"]]
