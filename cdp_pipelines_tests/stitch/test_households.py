"""Households from merged customers: shared address plus surname, phone or email."""

from __future__ import annotations

import pytest

from cdp_pipelines.stitch.households import household_attributes, household_members
from cdp_pipelines.tenant.stitch import HouseholdSpec

COLUMNS = ("amperity_id", "surname", "phone", "email", "address", "address2", "postal", "city",
           "record_count")
# amperity_id, surname, phone, email, address, unit, postal
PEOPLE = [
    ("a1", "SMITH", "+15035550100", "ann@x.com", "1 ELM ST", None, "97201"),
    ("a2", "SMITH", None, "bob@x.com", "1 ELM ST", None, "97201"),       # surname
    ("a3", "JONES", "+15035550100", None, "1 ELM ST", None, "97201"),    # shared landline
    ("a4", "BROWN", None, "carl@x.com", "1 ELM ST", None, "97201"),      # only the address
    ("b1", "SMITH", None, None, "1 ELM ST", None, "10001"),              # another town
    ("c1", "LEE", None, None, "5 OAK AVE", "APT 2", "97201"),
    ("c2", "LEE", None, None, "5 OAK AVE", "APT 3", "97201"),            # another flat
    ("d1", "KING", None, None, "9 STORE PLZ", None, "97201"),            # blocked address
    ("d2", "KING", None, None, "9 STORE PLZ", None, "97201"),
    ("e1", None, None, None, None, None, None),                          # no address
] + [(f"f{i}", "DORM", None, None, "2 CAMPUS DR", None, "97201") for i in range(5)]


def _customers(spark, people=PEOPLE):
    rows = [(*p, p[6] and "PORTLAND", 1) for p in people]
    return spark.createDataFrame(rows, ", ".join(
        f"{c} {'int' if c == 'record_count' else 'string'}" for c in COLUMNS))


def _blocklist(spark):
    return spark.createDataFrame([("address", "9 STORE PLZ|97201", "automatic")],
                                 "column string, value string, reason string")


def _households(members) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for r in members.collect():
        groups.setdefault(r["household_id"], set()).add(r["amperity_id"])
    return {frozenset(g) for g in groups.values()}


def test_households_join_on_address_and_one_more_shared_value(spark) -> None:
    members, counts = household_members(_customers(spark), _blocklist(spark),
                                        HouseholdSpec(max_size=4))
    assert _households(members) == {
        frozenset({"a1", "a2", "a3"}), frozenset({"a4"}), frozenset({"b1"}),
        frozenset({"c1"}), frozenset({"c2"}), frozenset({"d1"}), frozenset({"d2"}),
        frozenset({"e1"}), *[frozenset({f"f{i}"}) for i in range(5)]}
    assert counts == {"blocked_addresses": 1, "oversized_addresses": 1}
    rows = {r["amperity_id"]: r for r in members.collect()}
    assert rows["a1"]["household_size"] == 3 and rows["e1"]["household_size"] == 1
    assert sorted(rows[a]["household_rank"] for a in ("a1", "a2", "a3")) == [1, 2, 3]
    # Household ids are not customer ids, and every customer has exactly one.
    assert len(rows) == len(PEOPLE)
    assert not set(rows) & {r["household_id"] for r in rows.values()}


def test_match_on_narrows_the_evidence_and_max_size_admits_the_dorm(spark) -> None:
    members, counts = household_members(_customers(spark), None,
                                        HouseholdSpec(match_on=("surname",), max_size=8))
    found = _households(members)
    assert frozenset({"a1", "a2"}) in found and frozenset({"a3"}) in found
    assert frozenset({"f0", "f1", "f2", "f3", "f4"}) in found
    assert frozenset({"d1", "d2"}) in found            # no blocklist given
    assert counts["oversized_addresses"] == 0


def test_one_address_written_several_ways_is_one_household(spark) -> None:
    """Unit designators, suffix spellings and a mistyped street name, as the addresses
    arrive in merged_customers (normalised by Stitch); what stays apart stays apart."""
    from cdp_pipelines.stitch.normalize import normalize_address as norm

    people = [
        ("g1", "DIAZ", None, None, norm("817 Dogwood Pl"), norm("Apt 17C"), "97201"),
        ("g2", "DIAZ", None, None, norm("817 Dogwood Place"), norm("Unit 17C"), "97201"),
        ("g3", "DIAZ", None, None, norm("817 Dogwod Pl #17C"), None, "97201"),   # typo, '#'
        ("g4", "DIAZ", None, None, norm("817 Dogwood Pl"), norm("Apt 18C"), "97201"),
        ("g5", "DIAZ", None, None, norm("819 Dogwood Pl Apt 17C"), None, "97201"),
        ("g6", "DIAZ", None, None, norm("817 Dogwood Ct Apt 17C"), None, "97201"),
        ("h1", "ROSS", None, None, norm("40 School Wy"), None, "97201"),
        ("h2", "ROSS", None, None, norm("40 School Way"), None, "97201"),
        ("h3", "ROSS", None, None, norm("40 Meagnolia Way"), None, "97201"),
        ("h4", "ROSS", None, None, norm("40 Magnolia Way"), None, "97201"),
        ("m1", "MOSS", None, None, norm("12 Main Row"), None, "97201"),  # suffixes with
        ("m2", "MOSS", None, None, norm("12 Main Rue"), None, "97201"),  # one Soundex code
        ("k1", "KAY", None, None, "3 ASH ST", None, None),    # no postal code, no city
        ("k2", "KAY", None, None, "3 ASH ST", None, None),
    ]
    found = _households(household_members(_customers(spark, people), None,
                                          HouseholdSpec())[0])
    assert found == {frozenset({"g1", "g2", "g3"}), frozenset({"g4"}), frozenset({"g5"}),
                     frozenset({"g6"}), frozenset({"h1", "h2"}), frozenset({"h3", "h4"}),
                     frozenset({"m1"}), frozenset({"m2"}), frozenset({"k1"}), frozenset({"k2"})}
    exact = _households(household_members(_customers(spark, people), None,
                                          HouseholdSpec(street_match="exact"))[0])
    assert frozenset({"g1", "g2"}) in exact and frozenset({"g3"}) in exact
    assert frozenset({"h3"}) in exact and frozenset({"h1", "h2"}) in exact


def test_household_ids_stay_when_a_member_joins(spark) -> None:
    first, _ = household_members(_customers(spark), _blocklist(spark), HouseholdSpec(max_size=5))
    before = {r["amperity_id"]: r["household_id"] for r in first.collect()}
    # A new customer with the Smiths' surname moves in, under a smaller amperity_id.
    people = [("a0", "SMITH", None, None, "1 ELM ST", None, "97201"), *PEOPLE]
    again, _ = household_members(_customers(spark, people), _blocklist(spark),
                                 HouseholdSpec(max_size=5),
                                 previous=first.select("amperity_id", "household_id"))
    after = {r["amperity_id"]: r["household_id"] for r in again.collect()}
    assert all(after[a] == before[a] for a in before)
    assert after["a0"] == before["a1"]


def test_rank_prefers_revenue_and_attributes_sum_it(spark) -> None:
    revenue = spark.createDataFrame([("a2", 500.0, 3, None), ("a1", 20.0, 1, None)],
                                    "amperity_id string, lifetime_revenue double, "
                                    "lifetime_order_count long, latest_order_date date")
    members, _ = household_members(_customers(spark), _blocklist(spark),
                                   HouseholdSpec(max_size=4), revenue=revenue)
    rows = {r["amperity_id"]: r for r in members.collect()}
    assert rows["a2"]["household_rank"] == 1 and rows["a1"]["household_rank"] == 2
    customers = _customers(spark).selectExpr(
        "*", "surname AS surname_display", "address AS address_display",
        "address2 AS address2_display", "city AS city_display", "'OR' AS state",
        "'US' AS country", "timestamp'2026-01-01 00:00:00' AS first_seen",
        "timestamp'2026-06-01 00:00:00' AS last_seen")
    attrs = {r["household_id"]: r for r in household_attributes(
        members, customers, revenue).collect()}
    smiths = attrs[rows["a1"]["household_id"]]
    assert (smiths["members"], smiths["primary_amperity_id"]) == (3, "a2")
    assert smiths["lifetime_revenue"] == pytest.approx(520.0)
    assert smiths["lifetime_order_count"] == 4
    assert attrs[rows["e1"]["household_id"]]["lifetime_revenue"] == 0


def test_an_empty_match_on_is_refused() -> None:
    with pytest.raises(ValueError, match="match_on"):
        HouseholdSpec(match_on=())
