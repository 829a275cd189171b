from datetime import date, datetime
from decimal import Decimal as D

import pytest

from cdp_pipelines.customer360.attributes import (
    customer_360,
    customer_attributes,
    transaction_attributes,
)

MERGED_SCHEMA = (
    "amperity_id string, given_name string, email string, phone string, address string, "
    "city string, state string, postal string"
)
MERGED = [
    ("K1", "kim", "k1@x.com", "+15550001111", "1 a st", None, None, "02134"),
    # Nothing usable: not an email, 5 digits, a street without postal code or state.
    ("K2", "kai", "not-an-email", "555-12", "2 b st", "lynn", None, None),
    ("K3", "kit", "k3@x.com", None, None, None, None, None),
    ("K4", "kay", "k4@x.com", "+44 20 7946 0958", "4 d st", "leeds", "WY", None),
]
CONSENT_SCHEMA = (
    "amperity_id string, source string, pk string, email_opt_in boolean, sms_opt_in boolean, "
    "opt_in_date date, is_test boolean, is_employee boolean, _updated timestamp"
)
T = datetime
CONSENT = [
    # K1: opted in, later out in another source; the newest row says nothing about email.
    ("K1", "crm", "c1", True, None, date(2025, 1, 1), None, None, T(2025, 1, 1)),
    ("K1", "esp", "e1", False, None, date(2025, 3, 1), None, None, T(2025, 3, 1)),
    ("K1", "pos", "p1", None, True, date(2025, 5, 1), None, True, T(2025, 5, 1)),
    # K3: two statements at the same instant: the opt-out wins; an undated opt-in is oldest.
    ("K3", "crm", "c3", True, None, None, False, None, T(2025, 2, 1)),
    ("K3", "esp", "e3", False, None, None, True, None, T(2025, 2, 1)),
    ("K3", "web", "w3", True, None, None, None, None, None),
    # K4: an undated statement is still a statement.
    ("K4", "web", "w4", True, None, date(2024, 12, 24), None, None, None),
    # No customer: ignored.
    (None, "pos", "p9", False, False, None, True, True, T(2025, 6, 1)),
]


@pytest.fixture(scope="module")
def frames(spark):
    merged = spark.createDataFrame(MERGED, MERGED_SCHEMA)
    consent = spark.createDataFrame(CONSENT, CONSENT_SCHEMA)
    return merged, customer_attributes(merged, consent)


@pytest.fixture(scope="module")
def attrs(frames):
    return {row["amperity_id"]: row.asDict() for row in frames[1].collect()}


def pick(row, *columns):
    return tuple(row[c] for c in columns)


def test_latest_statement_wins(attrs):
    assert pick(attrs["K1"], "email_opt_in", "email_consent_date", "sms_opt_in",
                "sms_consent_date") == (False, date(2025, 3, 1), True, date(2025, 5, 1))


def test_opt_out_wins_a_tie_and_undated_is_oldest(attrs):
    assert attrs["K3"]["email_opt_in"] is False
    assert pick(attrs["K4"], "email_opt_in", "email_consent_date") == (True, date(2024, 12, 24))


def test_unknown_consent_stays_null(attrs):
    assert pick(attrs["K2"], "email_opt_in", "sms_opt_in") == (None, None)
    assert pick(attrs["K4"], "sms_opt_in", "sms_consent_date") == (None, None)


def test_contactable(attrs):
    got = {k: pick(v, "contactable_email", "contactable_phone", "contactable_address")
           for k, v in attrs.items()}
    assert got == {
        "K1": (False, True, True),   # opted out of email
        "K2": (False, False, False),  # no usable value
        "K3": (False, False, False),  # opted out; no phone or address
        "K4": (True, True, True),     # city + state stand in for a postal code
    }


def test_flags_any_source(attrs):
    got = {k: pick(v, "is_test", "is_employee") for k, v in attrs.items()}
    assert got == {"K1": (False, True), "K2": (False, False), "K3": (True, False),
                   "K4": (False, False)}


def test_customer_360_keeps_every_customer_once(spark, frames):
    merged, attributes = frames
    orders = spark.createDataFrame(
        [("K1", "pos", "o1", date(2025, 6, 1), D("12.50"), 2),
         ("K1", "pos", "o2", date(2025, 6, 2), D("7.50"), None),
         ("ZZ", "pos", "o3", date(2025, 6, 2), D("1.00"), 1)],
        "amperity_id string, source string, order_id string, order_date date, "
        "order_revenue decimal(10,2), order_quantity int",
    )
    tx = transaction_attributes(orders, None, date(2025, 6, 30))
    profile = customer_360(merged, tx, attributes)
    assert profile.columns[: len(merged.columns)] == merged.columns
    rows = {r["amperity_id"]: r.asDict() for r in profile.collect()}
    # Orders of an id that is not a merged customer do not create a profile.
    assert sorted(rows) == ["K1", "K2", "K3", "K4"]
    columns = ("email", "lifetime_order_count", "lifetime_revenue", "lifetime_items",
               "l12m_order_count", "one_and_done", "latest_order_id", "recency_decile",
               "avg_order_value", "email_opt_in", "is_employee")
    assert pick(rows["K1"], *columns) == (
        "k1@x.com", 2, D("20.00"), 2, 2, False, "o2", 10, D("10.00"), False, True)
    assert pick(rows["K2"], *columns) == (
        "not-an-email", 0, D("0"), 0, 0, False, None, None, None, None, False)


def test_customer_360_refuses_clashing_columns(frames):
    merged, attributes = frames
    with pytest.raises(ValueError, match=r"columns \['given_name'\] come from more than one"):
        customer_360(merged, attributes.select("amperity_id", "is_test"),
                     attributes.withColumn("given_name", attributes["amperity_id"]).drop("is_test"))
