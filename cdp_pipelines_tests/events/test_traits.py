"""Computed traits from events: configured and checked on load, computed per customer
(zero counts for customers without events), and usable in segments."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cdp_pipelines.activation.segments import compile_condition
from cdp_pipelines.customer360.computed_traits import computed_traits, window_start
from cdp_pipelines.tenant import ConfigError, load_tenant
from cdp_pipelines.tenant.conditions import parse_condition

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
TRAITS = """traits:
  - {name: product_views_7d, kind: count, event: Product Viewed, within: 7 days}
  - {name: orders_7d, kind: count, event: Order Completed, within: 7 days}
  - {name: first_seen, kind: first_seen}
  - {name: last_seen, kind: last_seen}
  - {name: last_viewed_sku, kind: last_value, event: Product Viewed, property: sku}
  - {name: home_visits, kind: count, type: page, event: Home}
"""


@pytest.fixture
def traits(event_tenant: Path):
    (event_tenant / "computed_traits.yaml").write_text(TRAITS)
    return load_tenant(event_tenant).computed_traits


def _event(customer, event, days_ago, sku=None, kind="track"):
    properties = f'{{"sku": "{sku}"}}' if sku else "{}"
    return (customer, kind, event, properties, NOW - timedelta(days=days_ago))


def test_traits_per_customer_with_zero_for_no_events(spark, traits):
    events = spark.createDataFrame([
        *[_event("a1", "Product Viewed", d, sku=f"S{d}") for d in (1, 2, 3, 4)],
        _event("a1", "Product Viewed", 30, sku="OLD"),
        _event("a1", "Order Completed", 20),
        _event("a1", "Home", 5, kind="page"),
        _event("a1", "Product Viewed", 0.5),            # no sku: not the last value
        *[_event("a2", "Product Viewed", d, sku="B") for d in (1, 2, 6)],
        _event("a2", "Order Completed", 2),
        _event(None, "Product Viewed", 1, sku="ANON"),  # a browser that never identified
    ], "amperity_id string, type string, event string, properties string, timestamp timestamp")
    customers = spark.createDataFrame([("a1",), ("a2",), ("a3",)], "amperity_id string")
    rows = {r["amperity_id"]: r.asDict() for r in
            computed_traits(events, customers, traits, NOW).collect()}
    assert {k: (r["product_views_7d"], r["orders_7d"], r["home_visits"])
            for k, r in rows.items()} == {"a1": (5, 0, 1), "a2": (3, 1, 0), "a3": (0, 0, 0)}
    assert rows["a1"]["last_viewed_sku"] == "S1" and rows["a3"]["last_viewed_sku"] is None
    assert rows["a1"]["first_seen"].date() == (NOW - timedelta(days=30)).date()
    assert rows["a3"]["last_seen"] is None


def test_windows_end_at_the_build_and_months_clamp():
    assert window_start(NOW, 7, "day") == NOW - timedelta(days=7)
    assert window_start(datetime(2026, 3, 31), 1, "month") == datetime(2026, 2, 28)
    assert window_start(datetime(2026, 3, 31), 1, "year") == datetime(2025, 3, 31)


@pytest.mark.parametrize("text, message", [
    ("traits: [{name: x, kind: count, event: Prodcut Viewed}]",
     "computed_traits.yaml: traits[0] (x).event: 'Prodcut Viewed' is in no tracking plan"),
    ("traits: [{name: x, kind: last_value, event: Product Viewed}]",
     "computed_traits.yaml: traits[0]: 'property' is what a last_value trait takes"),
    ("traits: [{name: x, kind: count, within: a week}]",
     "computed_traits.yaml: traits[0].within: expected a period such as '90 days'"),
    ("traits: [{name: x, kind: count, source: app}]",
     "computed_traits.yaml: traits[0] (x).source: no event source 'app'"),
])
def test_trait_errors_name_the_file_and_field(event_tenant: Path, text, message):
    (event_tenant / "computed_traits.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_tenant(event_tenant)
    assert message in str(error.value)


def test_segments_use_traits_and_customers_without_events_count_zero():
    columns = {"customer_360": {"amperity_id": "varchar", "state": "varchar"},
               "computed_traits": {"amperity_id": "varchar", "product_views_7d": "bigint",
                                   "orders_7d": "bigint"}}
    browsed_not_bought = parse_condition({"all": [
        {"attribute": "product_views_7d", "operator": ">=", "value": 3},
        {"attribute": "computed_traits.orders_7d", "operator": "=", "value": 0}]})
    sql, params = compile_condition(browsed_not_bought, columns, "c360", date(2026, 11, 30),
                                    "browsed_not_bought")
    assert ('LEFT JOIN "delta"."c360"."computed_traits" e ON e.amperity_id = c.amperity_id'
            in sql)
    assert 'e."product_views_7d" >= ?' in sql and 'e."orders_7d" = ?' in sql
    assert params == [3, 0]
