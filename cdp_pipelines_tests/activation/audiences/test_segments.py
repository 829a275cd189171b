"""The condition language compiled and run on the session Trino: exact member sets."""

from __future__ import annotations

from datetime import date

import pytest

from cdp_pipelines.activation.segments import (
    SegmentError,
    compile_condition,
    read_columns,
)
from cdp_pipelines.tenant.conditions import parse_condition

from .conftest import TODAY


@pytest.fixture(scope="module")
def columns(admin, c360):
    return read_columns(admin, c360)


@pytest.fixture(scope="module")
def members(admin, c360, columns):
    def run(condition: dict, today: date = TODAY) -> set[str]:
        sql, params = compile_condition(parse_condition(condition), columns, c360, today, "t")
        return {row[0] for row in admin.execute(sql, params)}

    return run


def leaf(attribute, operator, value=None):
    out = {"attribute": attribute, "operator": operator}
    if value is not None:
        out["value"] = value
    return out


def test_columns_come_from_information_schema(columns):
    assert set(columns) == {"customer_360", "transaction_attributes", "customer_attributes"}
    assert columns["customer_360"]["latest_order_date"] == "date"
    assert columns["transaction_attributes"]["rfm_score"] == "integer"


@pytest.mark.parametrize("condition, expected", [
    # AND of an OR: revenue >= 300 (a1 a2 a5) and (OR, or rfm >= 22): a2 by state, a1 by rfm.
    ({"all": [leaf("lifetime_revenue", ">=", 300),
              {"any": [leaf("state", "=", "OR"), leaf("rfm_score", ">=", 22)]}]}, {"a1", "a2"}),
    # OR of ANDs, nested two deep, qualified and bare names mixed.
    ({"any": [{"all": [leaf("customer_attributes.email_opt_in", "=", False),
                       leaf("state", "=", "WA")]},
              {"all": [leaf("transaction_attributes.rfm_score", "<", 10),
                       {"any": [leaf("state", "=", "CA"), leaf("state", "=", "TX")]}]}]},
     {"a5", "a3"}),
    (leaf("lifetime_revenue", "between", [100, 800]), {"a2", "a5", "a6"}),
    (leaf("lifetime_order_count", ">", 2), {"a1", "a2"}),
    (leaf("state", "in", ["WA", "TX"]), {"a1", "a5", "a6"}),
    (leaf("email", "starts_with", "bob@"), {"a2"}),
])
def test_nested_groups_give_exact_members(members, condition, expected):
    assert members(condition) == expected


def test_relative_dates_against_a_fixed_today(members):
    # 90 days before 2026-11-22 is 2026-08-24: a6's order that day is just outside.
    assert members(leaf("latest_order_date", "in_last", "90 days")) == {"a1", "a5"}
    # never ordered (a4, NULL) counts as "not in the last 90 days".
    assert members(leaf("latest_order_date", "not_in_last", "90 days")) == {"a2", "a3", "a4", "a6"}
    assert members(leaf("latest_order_date", "in_last", "91 days")) == {"a1", "a5", "a6"}
    assert members(leaf("latest_order_date", "in_last", "6 months")) == {"a1", "a5", "a6", "a2"}
    assert members(leaf("latest_order_date", "in_last", "2 years")) == {
        "a1", "a2", "a3", "a5", "a6"}
    # "today" moves the window: 90 days before 2027-01-29 is 2026-10-31.
    assert members(leaf("latest_order_date", "in_last", "90 days"), date(2027, 1, 29)) == {"a1"}
    assert members(leaf("latest_order_date", "before", "2026-01-01")) == {"a3"}
    assert members(leaf("latest_order_date", "after", date(2026, 10, 20))) == {"a1"}


def test_null_handling(members):
    assert members(leaf("state", "=", "WA")) == {"a1", "a5"}
    # negative operators include the customer without a state (a4)
    assert members(leaf("state", "!=", "WA")) == {"a2", "a3", "a4", "a6"}
    assert members(leaf("state", "not_in", ["WA", "OR"])) == {"a3", "a4", "a6"}
    assert members(leaf("state", "is_null")) == {"a4"}
    assert members(leaf("email", "not_null")) == {"a1", "a2", "a4", "a5", "a6"}
    # a4 has no transaction_attributes row: its rfm_score is NULL, never > or <.
    assert members(leaf("rfm_score", "<", 100)) == {"a1", "a2", "a3", "a5", "a6"}
    assert members(leaf("email_opt_in", "=", True)) == {"a1", "a2", "a6"}


def test_values_stay_values(members, admin, c360):
    assert members(leaf("given_name", "=", "x' OR '1'='1")) == set()
    assert members(leaf("given_name", "=", "O'Brien")) == {"a5"}
    assert members(leaf("given_name", "in", ["Ada'); DROP TABLE customer_360; --", "Cy"])) == {
        "a3"}
    # '%' and '_' are plain characters, not LIKE wildcards.
    assert members(leaf("given_name", "contains", "%")) == {"a6"}
    assert members(leaf("given_name", "contains", "_")) == set()
    assert members(leaf("given_name", "starts_with", "O'")) == {"a5"}
    assert admin.execute(f"SELECT count(*) FROM delta.{c360}.customer_360") == [(6,)]


def test_compiled_sql_binds_values(columns, c360):
    sql, params = compile_condition(parse_condition(leaf("given_name", "=", "x' OR '1'='1")),
                                    columns, c360, TODAY, "t")
    assert "x'" not in sql and params == ["x' OR '1'='1"]


@pytest.mark.parametrize("condition, message", [
    (leaf("favourite_colour", "=", "red"), "unknown attribute 'favourite_colour'"),
    (leaf("orders.total", "=", 1), "table 'orders' is not one of"),
    (leaf("customer_attributes.rfm_score", "=", 1), "customer_attributes has no column"),
    (leaf("segment_flag", "=", 1), "'segment_flag' is ambiguous"),
    (leaf("lifetime_revenue", "contains", "1"), "needs a text attribute"),
    (leaf("state", "in_last", "30 days"), "needs a date attribute"),
    (leaf("lifetime_revenue", ">", "lots"), "is double, but the value 'lots'"),
])
def test_compile_errors_name_file_segment_and_attribute(columns, c360, condition, message):
    with pytest.raises(SegmentError, match=message) as err:
        compile_condition(parse_condition(condition), columns, c360, TODAY, "vip")
    assert str(err.value).startswith("activation/segments.yaml: segment 'vip': ")
