from datetime import date
from decimal import Decimal as D

import pytest

from cdp_pipelines.customer360.attributes import transaction_attributes

AS_OF = date(2025, 6, 30)  # as_of - 365 days = 2024-06-30
ORDERS_SCHEMA = (
    "amperity_id string, source string, order_id string, order_date date, "
    "order_revenue decimal(10,2), order_quantity int"
)
ORDERS = [
    # T1: exactly 365 days before as_of (outside L12M), 364 days (inside), on as_of (inside),
    # a return, and an order after as_of (ignored).
    ("T1", "pos", "o1", date(2024, 6, 30), D("100.00"), None),
    ("T1", "pos", "o2", date(2024, 7, 1), D("50.00"), 4),
    ("T1", "pos", "o3", date(2025, 6, 30), D("30.00"), None),
    ("T1", "pos", "r1", date(2025, 1, 15), D("-20.00"), -1),
    ("T1", "pos", "o9", date(2025, 7, 1), D("999.00"), 1),
    # T2: one order; its undated row is ignored.
    ("T2", "web", "o4", date(2025, 6, 1), D("80.00"), 2),
    ("T2", "web", "o6", None, D("1000.00"), 1),
    # T3: two orders on one day: order_id decides first/second/latest.
    ("T3", "pos", "b7", date(2025, 3, 1), D("10.00"), None),
    ("T3", "pos", "a1", date(2025, 3, 1), D("20.00"), None),
    # T4: only a return: no orders.
    ("T4", "pos", "r2", date(2025, 5, 1), D("-15.00"), -1),
    # T5: an order without revenue is an order worth 0.
    ("T5", "web", "o7", date(2025, 6, 15), None, None),
    # Walk-in: no customer.
    (None, "pos", "o5", date(2025, 6, 1), D("500.00"), 1),
]
ITEMS_SCHEMA = (
    "amperity_id string, source string, order_id string, order_date date, item_sku string, "
    "item_name string, item_category string, item_quantity int, item_revenue decimal(10,2)"
)
ITEMS = [
    ("T1", "pos", "o1", date(2024, 6, 30), "s1", "Shirt", "tops", 2, D("40.00")),
    ("T1", "pos", "o1", date(2024, 6, 30), "s2", "Hat", "hats", 3, D("60.00")),
    ("T1", "pos", "o9", date(2025, 7, 1), "s3", "Coat", "coats", 100, D("999.00")),
    ("T1", "pos", "zz", date(2025, 1, 1), "s3", "Coat", "coats", 7, D("1.00")),
]


@pytest.fixture(scope="module")
def attrs(spark):
    frame = transaction_attributes(
        spark.createDataFrame(ORDERS, ORDERS_SCHEMA), spark.createDataFrame(ITEMS, ITEMS_SCHEMA),
        AS_OF,
    )
    return {row["amperity_id"]: row.asDict() for row in frame.collect()}


def pick(row, *columns):
    return tuple(row[c] for c in columns)


def test_customers_without_id_are_excluded(attrs):
    assert sorted(attrs) == ["T1", "T2", "T3", "T4", "T5"]


def test_first_second_latest(attrs):
    columns = [f"{p}_order_{f}" for p in ("first", "second", "latest")
               for f in ("date", "id", "revenue")]
    assert pick(attrs["T1"], *columns) == (
        date(2024, 6, 30), "o1", D("100.00"),
        date(2024, 7, 1), "o2", D("50.00"),
        date(2025, 6, 30), "o3", D("30.00"),
    )
    assert pick(attrs["T2"], *columns) == (
        date(2025, 6, 1), "o4", D("80.00"), None, None, None, date(2025, 6, 1), "o4", D("80.00"),
    )
    assert pick(attrs["T3"], "first_order_id", "second_order_id", "latest_order_id") == (
        "a1", "b7", "b7")


def test_lifetime_and_l12m(attrs):
    columns = ("lifetime_order_count", "lifetime_revenue", "lifetime_items", "l12m_revenue",
               "l12m_order_count", "avg_order_value", "days_since_last_order")
    # revenue 100 + 50 + 30 - 20; items 5 (itemized) + 4 + unknown - 1; L12M 50 + 30 - 20.
    assert pick(attrs["T1"], *columns) == (3, D("160.00"), 8, D("60.00"), 2, D("53.33"), 0)
    assert pick(attrs["T2"], *columns) == (1, D("80.00"), 2, D("80.00"), 1, D("80.00"), 29)
    assert pick(attrs["T3"], *columns) == (2, D("30.00"), None, D("30.00"), 2, D("15.00"), 121)
    assert pick(attrs["T5"], *columns) == (1, D("0"), None, D("0"), 1, D("0"), 15)


def test_only_returns(attrs):
    t4 = attrs["T4"]
    assert pick(t4, "lifetime_order_count", "lifetime_revenue", "lifetime_items", "l12m_revenue",
                "avg_order_value", "one_and_done", "first_order_id", "days_since_last_order") == (
        0, D("-15.00"), -1, D("-15.00"), None, False, None, None)
    assert pick(t4, "recency_decile", "frequency_decile", "monetary_decile", "rfm_score") == (
        None, None, None, None)


def test_one_and_done(attrs):
    assert {k: v["one_and_done"] for k, v in attrs.items()} == {
        "T1": False, "T2": True, "T3": False, "T4": False, "T5": True}


def test_rfm_deciles_with_ties(attrs):
    # Four customers with orders, best first:
    # recency   T1 0d, T5 15d, T2 29d, T3 121d  -> 10, 9, 8, 7
    # frequency T1 3, T3 2, T2 1, T5 1 (tie)    -> 10, 9, 8, 8 (ties share the better decile)
    # monetary  T1 160, T2 80, T3 30, T5 0      -> 10, 9, 8, 7
    got = {k: pick(v, "recency_decile", "frequency_decile", "monetary_decile", "rfm_score")
           for k, v in attrs.items() if k != "T4"}
    assert got == {
        "T1": (10, 10, 10, 30),
        "T2": (8, 8, 9, 25),
        "T3": (7, 9, 8, 24),
        "T5": (9, 8, 7, 24),
    }


def test_single_customer_is_best_in_every_decile(spark):
    frame = spark.createDataFrame(
        [("S", "pos", "o1", date(2025, 1, 1), D("5.00"), 1)], ORDERS_SCHEMA)
    (row,) = transaction_attributes(frame, None, AS_OF).collect()
    assert pick(row, "recency_decile", "frequency_decile", "monetary_decile", "rfm_score",
                "lifetime_items") == (10, 10, 10, 30, 1)


def test_twelve_customers_span_all_deciles(spark):
    # ntile(10) over 12: the two best buckets hold two customers each, the rest one.
    rows = [(f"C{i:02d}", "pos", f"o{i}", date(2025, 6, 1), D(i), 1) for i in range(1, 13)]
    # Without an order_quantity column (and no items) the item count is unknown.
    orders = spark.createDataFrame(rows, ORDERS_SCHEMA).drop("order_quantity")
    collected = transaction_attributes(orders, None, AS_OF).collect()
    assert {r["lifetime_items"] for r in collected} == {None}
    got = {r["amperity_id"]: pick(r, "monetary_decile", "frequency_decile", "recency_decile")
           for r in collected}
    monetary = [got[f"C{i:02d}"][0] for i in range(12, 0, -1)]
    assert monetary == [10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    # Everyone tied on frequency and recency: all share the best decile.
    assert {v[1:] for v in got.values()} == {(10, 10)}
