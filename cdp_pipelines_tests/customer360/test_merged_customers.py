from datetime import date, datetime

import pytest

from cdp_pipelines.customer360.merged_customers import (
    DISPLAY_COLUMNS,
    FIELD_GROUPS,
    merged_customers,
)

PRIORITIES = {"crm": 10, "pos": 30, "web": 50}
# No full_name column: the output must still have it (NULL).
SCHEMA = (
    "amperity_id string, source string, source_system string, pk string, given_name string, "
    "surname string, email string, phone string, address string, address2 string, city string, "
    "state string, postal string, country string, birthdate date, gender string, "
    "_updated timestamp, supersized boolean"
)
T = datetime
ROWS = [
    # A: crm (priority 10) beats the fuller, newer pos record for every group it has.
    ("A", "crm_contacts", "crm", "c1", "ann", None, "ann@crm.com", None, "1 main st", None,
     None, None, None, None, None, None, T(2024, 1, 1), False),
    ("A", "pos_customers", "pos", "p1", "ann", "lee", "ann@pos.com", "+15550001111", "9 elm st",
     "apt 2", "boston", "MA", "02134", "US", date(1990, 5, 1), "F", T(2025, 1, 1), False),
    # B: same source; address by completeness (older p3 has more), name by recency (p2 newer),
    # email: p2's blank is no value.
    ("B", "pos_customers", "pos", "p2", "bob", "ray", "  ", None, "5 oak ave", None, "salem",
     None, None, None, None, None, T(2025, 6, 1), True),
    ("B", "pos_customers", "pos", "p3", "rob", "ray", "rob@x.com", None, "7 pine rd", None,
     "lynn", "MA", "01901", None, None, None, T(2024, 6, 1), False),
    # C: recency among web emails (NULL _updated is oldest); gender tie broken by source name.
    ("C", "web_signups", "web", "w1", None, None, "c1@x.com", None, None, None, None, None,
     None, None, None, None, T(2025, 1, 1), None),
    ("C", "web_signups", "web", "w2", None, None, "c2@x.com", None, None, None, None, None,
     None, None, None, None, T(2025, 3, 1), None),
    ("C", "web_signups", "web", "w3", None, None, "c3@x.com", None, None, None, None, None,
     None, None, None, "M", None, None),
    ("C", "web_accounts", "web", "w9", None, None, None, None, None, None, None, None,
     None, None, None, "F", None, None),
    # D: a source without a priority gets the default (100) and loses to pos.
    ("D", "legacy_dump", "legacy", "l1", "dee", None, "d@legacy.com", None, None, None, None,
     None, None, None, None, None, T(2025, 2, 1), False),
    ("D", "pos_customers", "pos", "p4", None, None, "d@pos.com", None, None, None, None, None,
     None, None, None, None, T(2023, 2, 1), False),
    # Not a customer: no amperity_id.
    (None, "pos_customers", "pos", "p5", "ghost", None, "ghost@x.com", None, None, None, None,
     None, None, None, None, None, T(2025, 2, 1), False),
]


@pytest.fixture(scope="module")
def merged(spark):
    frame = spark.createDataFrame(ROWS, SCHEMA)
    rows = merged_customers(frame, PRIORITIES).collect()
    return {row["amperity_id"]: row.asDict() for row in rows}


def pick(row, *columns):
    return tuple(row[c] for c in columns)


def test_one_row_per_customer_without_null_ids(merged):
    assert sorted(merged) == ["A", "B", "C", "D"]


def test_output_columns(spark):
    frame = spark.createDataFrame(ROWS, SCHEMA)
    expected = ["amperity_id"]
    for group, columns in FIELD_GROUPS.items():
        expected += [*columns, *DISPLAY_COLUMNS.get(group, ()), f"{group}_source",
                     f"{group}_pk"]
    expected += ["source_count", "record_count", "first_seen", "last_seen", "supersized"]
    assert merged_customers(frame, PRIORITIES).columns == expected


def test_priority_beats_completeness_and_recency(merged):
    a = merged["A"]
    assert pick(a, "given_name", "surname", "full_name", "name_source", "name_pk") == (
        "ann", None, None, "crm_contacts", "c1")
    assert pick(a, "email", "email_source", "email_pk") == ("ann@crm.com", "crm_contacts", "c1")
    # crm has no phone, birthdate or gender: those come from pos.
    assert pick(a, "phone", "phone_pk") == ("+15550001111", "p1")
    assert pick(a, "birthdate", "birthdate_pk", "gender", "gender_pk") == (
        date(1990, 5, 1), "p1", "F", "p1")


def test_address_group_is_never_mixed(merged):
    # crm wins the address group with only a street: pos's city/state/postal are not borrowed.
    assert pick(merged["A"], "address", "address2", "city", "state", "postal", "country",
                "address_source", "address_pk") == (
        "1 main st", None, None, None, None, None, "crm_contacts", "c1")


def test_completeness_beats_recency(merged):
    b = merged["B"]
    assert pick(b, "address", "city", "state", "postal", "address_pk") == (
        "7 pine rd", "lynn", "MA", "01901", "p3")


def test_recency_breaks_equal_completeness(merged):
    assert pick(merged["B"], "given_name", "surname", "name_pk") == ("bob", "ray", "p2")
    assert pick(merged["C"], "email", "email_pk") == ("c2@x.com", "w2")


def test_blank_value_does_not_count(merged):
    assert pick(merged["B"], "email", "email_pk") == ("rob@x.com", "p3")


def test_source_then_pk_break_full_ties(merged):
    # Same priority, one value each, both _updated NULL: web_accounts < web_signups.
    assert pick(merged["C"], "gender", "gender_source", "gender_pk") == ("F", "web_accounts", "w9")


def test_default_priority_for_unlisted_source(merged):
    d = merged["D"]
    assert pick(d, "email", "email_source") == ("d@pos.com", "pos_customers")
    # pos has no name: the legacy record is the only candidate.
    assert pick(d, "given_name", "name_source") == ("dee", "legacy_dump")


def test_group_without_values_is_null(merged):
    assert pick(merged["C"], "phone", "phone_source", "phone_pk") == (None, None, None)
    assert pick(merged["D"], "address", "address_source", "address_pk") == (None, None, None)


def test_counts_and_seen_dates(merged):
    assert pick(merged["A"], "source_count", "record_count", "first_seen", "last_seen",
                "supersized") == (2, 2, T(2024, 1, 1), T(2025, 1, 1), False)
    assert pick(merged["B"], "source_count", "record_count", "supersized") == (1, 2, True)
    assert pick(merged["C"], "source_count", "record_count", "first_seen", "last_seen",
                "supersized") == (2, 4, T(2025, 1, 1), T(2025, 3, 1), False)


def test_missing_required_column_is_named(spark):
    frame = spark.createDataFrame(ROWS, SCHEMA).drop("source_system")
    with pytest.raises(ValueError, match=r"lacks columns \['source_system'\]"):
        merged_customers(frame, PRIORITIES)


def test_display_forms_travel_with_their_winner(spark):
    """Names and addresses as written come from the record that won the group, even when
    another record has a display form and this one has none; they never decide the winner."""
    schema = SCHEMA + ", given_name_display string, surname_display string, " \
        "address_display string, city_display string"
    rows = [
        # crm wins the name group by priority: its casing, not pos's fuller display forms.
        ("A", "crm_contacts", "crm", "c1", "mary ann", "oconnor", None, None, "1 main st",
         None, "boston", None, None, None, None, None, T(2024, 1, 1), False,
         "Mary Ann", "O'Connor", "1 Main St.", "Boston"),
        ("A", "pos_customers", "pos", "p1", "mary ann", "oconnor", None, None, "9 elm st",
         None, "salem", None, None, None, None, None, T(2025, 1, 1), False,
         "MARY ANN", "OCONNOR", "9 ELM ST", "SALEM"),
        # B: the winner wrote no display form: NULL, not the loser's.
        ("B", "crm_contacts", "crm", "c2", "lee", None, None, None, None, None, None, None,
         None, None, None, None, T(2024, 1, 1), False, None, None, None, None),
        ("B", "pos_customers", "pos", "p2", "lee", "wu", None, None, None, None, None, None,
         None, None, None, None, T(2025, 1, 1), False, "Lee", "Wu", None, None),
    ]
    out = {r["amperity_id"]: r.asDict() for r in merged_customers(
        spark.createDataFrame(rows, schema), PRIORITIES).collect()}
    assert pick(out["A"], "given_name", "given_name_display", "surname_display", "name_pk") \
        == ("mary ann", "Mary Ann", "O'Connor", "c1")
    assert pick(out["A"], "address_display", "city_display", "address2_display",
                "address_pk") == ("1 Main St.", "Boston", None, "c1")
    assert pick(out["B"], "given_name_display", "surname_display", "name_pk") == (
        None, None, "c2")
