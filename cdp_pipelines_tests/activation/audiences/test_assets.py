"""Saved queries, segments and campaigns materialized with the real Trino and Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

from cdp_pipelines.activation.audience_assets import (
    audience_rows_sql,
    build_audience_assets,
)
from cdp_pipelines.activation.campaigns import assign
from cdp_pipelines.keys import (
    TRINO_PUBLICATION_KEY,
    campaign_key,
    query_key,
    segment_key,
)


@pytest.fixture(scope="module")
def assets(audiences, deployment):
    return build_audience_assets(audiences, deployment)


@pytest.fixture(scope="module")
def run(assets, lake, admin, c360):
    def go(*keys):
        return materialize(assets, selection=AssetSelection.assets(*keys),
                           resources={"lake": lake, "trino": admin},
                           instance=DagsterInstance.ephemeral(), raise_on_error=False)
    return go


def metadata(result, key):
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_graph(assets):
    keys = {k for a in assets for k in a.keys}
    assert keys == {query_key("broken"), query_key("nobody"), query_key("top_spenders"),
                    segment_key("west_high_value"), segment_key("employees"),
                    campaign_key("winback"), campaign_key("winback_households")}
    by_key = {k: a for a in assets for k in a.keys}
    assert TRINO_PUBLICATION_KEY in by_key[query_key("top_spenders")].asset_deps[
        query_key("top_spenders")]
    assert {segment_key("west_high_value"), segment_key("employees"), TRINO_PUBLICATION_KEY} == set(
        by_key[campaign_key("winback")].asset_deps[campaign_key("winback")])
    checks = {c.name: c.blocking for a in assets for c in a.check_specs}
    assert checks == {"row_count_warn": False, "row_count_fail": True}


@pytest.fixture(scope="module")
def queries_run(run):
    return run(query_key("top_spenders"), query_key("nobody"))


def test_saved_query_thresholds(queries_run, admin, lake):
    result = queries_run
    checks = {(e.asset_key, e.check_name): e for e in result.get_asset_check_evaluations()}
    # top_spenders has 3 rows: below warn_below 5 (WARN), not below fail_below 1.
    warn = checks[(query_key("top_spenders"), "row_count_warn")]
    assert (warn.passed, warn.severity) == (False, AssetCheckSeverity.WARN)
    assert warn.metadata["rows"].value == 3
    assert checks[(query_key("top_spenders"), "row_count_fail")].passed
    # nobody returns no rows: the blocking ERROR check fails.
    fail = checks[(query_key("nobody"), "row_count_fail")]
    assert (fail.passed, fail.severity) == (False, AssetCheckSeverity.ERROR)

    meta = metadata(result, query_key("top_spenders"))
    assert meta["dagster/row_count"] == 3
    assert meta["trino_table"] == "delta.aud_activation.query_top_spenders"
    assert "| amperity_id | lifetime_revenue |" in meta["preview"]
    assert meta["path"].endswith("/branches/aud/activation/queries/top_spenders")
    rows = admin.execute("SELECT amperity_id, lifetime_revenue FROM delta.aud_activation."
                         "query_top_spenders ORDER BY 1")
    assert rows == [("a1", 1200.0), ("a2", 300.0), ("a5", 800.0)]
    stored = lake.read("activation", "queries", "top_spenders")
    assert dict(stored.dtypes) == {"amperity_id": "string", "lifetime_revenue": "double"}
    # no staging table is left behind, in Trino or on disk
    tables = {r[0] for r in admin.execute(
        "SELECT table_name FROM delta.information_schema.tables WHERE table_schema = ?",
        ["aud_activation"])}
    assert "query_top_spenders" in tables
    assert not any(t.startswith("_staging") for t in tables)
    staging = lake.path("activation", "_staging")
    assert not list(Path(staging).glob("*"))


def test_rerun_replaces_the_table(queries_run, run, admin):
    again = run(query_key("top_spenders"))
    assert again.success
    assert (metadata(again, query_key("top_spenders"))["delta_version"]
            == metadata(queries_run, query_key("top_spenders"))["delta_version"] + 1)
    assert admin.execute("SELECT count(*) FROM delta.aud_activation.query_top_spenders") == [(3,)]


def test_sql_error_names_file_and_line(run):
    result = run(query_key("broken"))
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert ("saved query broken failed: activation/queries/broken.sql line 2, column 8: "
            "Column 'no_such_column' cannot be resolved") in message


def test_segments_campaign_and_delivery_sql(run, admin, deployment, audiences):
    result = run(segment_key("west_high_value"), segment_key("employees"),
                 campaign_key("winback"))
    assert result.success

    # Insights by hand: members a1 a2 a5 of 6 customers; revenue 1200 + 300 + 800 = 2300
    # over 4 + 3 + 2 = 9 orders.
    meta = metadata(result, segment_key("west_high_value"))
    assert meta["size"] == 3 and meta["dagster/row_count"] == 3
    assert meta["share_of_customers"] == 0.5
    assert meta["total_revenue"] == 2300.0
    assert meta["average_order_value"] == 255.56
    assert meta["size_by_state"].startswith("![members by state](data:image/png;base64,")
    assert metadata(result, segment_key("employees"))["size"] == 1

    members = admin.execute("SELECT amperity_id FROM delta.aud_activation.segment_west_high_value")
    assert sorted(r[0] for r in members) == ["a1", "a2", "a5"]

    # winback: west_high_value minus employees (a5); a2 is in Oregon.
    recipients = admin.execute(
        "SELECT amperity_id, sub_audience, treatment, is_control, run "
        "FROM delta.aud_activation.campaign_winback_recipients ORDER BY 1")
    run_id = result.run_id
    winback = audiences.campaigns[0]
    assert recipients == [
        ("a1", "default", assign(winback, "a1"), assign(winback, "a1") == "control", run_id),
        ("a2", "oregon", assign(winback, "a2"), assign(winback, "a2") == "control", run_id),
    ]
    counts = metadata(result, campaign_key("winback"))["recipients_by_treatment"]
    assert sum(counts.values()) == 2

    rows = admin.execute(audience_rows_sql("segment", "west_high_value", None,
                                           ["given_name", "state"], deployment=deployment))
    assert rows == [("a1", "Ada", "WA"), ("a2", "Bob", "OR"), ("a5", "O'Brien", "WA")]
    to_send = admin.execute(audience_rows_sql("campaign", "winback", None, ["email"],
                                              deployment=deployment))
    expected = [(a, sub, assign(winback, a), email) for a, sub, email in
                (("a1", "default", "ada@example.com"), ("a2", "oregon", "bob@example.com"))
                if assign(winback, a) != "control"]
    assert to_send == expected
    for treatment in ("email_offer", "paid_social"):
        got = admin.execute(audience_rows_sql("campaign", "winback", treatment, ["email"],
                                              deployment=deployment))
        assert [r[0] for r in got] == [r[0] for r in expected if r[2] == treatment]
    query_rows = admin.execute(audience_rows_sql("query", "top_spenders",
                                                 deployment=deployment))
    assert len(query_rows) == 3


def test_one_recipient_per_household(run, admin, audiences):
    result = run(segment_key("west_high_value"), segment_key("employees"),
                 campaign_key("winback_households"))
    assert result.success
    # a1 and a2 are one household: a2 (ranked first) is sent, in the household's group.
    campaign = audiences.campaign("winback_households")
    recipients = admin.execute(
        "SELECT amperity_id, treatment, is_control "
        "FROM delta.aud_activation.campaign_winback_households_recipients")
    assert recipients == [("a2", assign(campaign, "h1"), assign(campaign, "h1") == "control")]


def test_audience_rows_sql_refuses_bad_input():
    with pytest.raises(ValueError, match="only applies to campaigns"):
        audience_rows_sql("segment", "x", "email_offer", [])
    with pytest.raises(ValueError, match="not a plain identifier"):
        audience_rows_sql("campaign", "winback", "a' OR '1'='1", [])
    with pytest.raises(ValueError, match="not a plain identifier"):
        audience_rows_sql("segment", "x", None, ["email; DROP TABLE t"])
    assert audience_rows_sql("campaign", "w", "t", ["email"]) == (
        'SELECT m.amperity_id, m.sub_audience, m.treatment, mc."email" FROM '
        '"delta"."activation"."campaign_w_recipients" m LEFT JOIN "delta"."c360".'
        '"merged_customers" mc ON mc.amperity_id = m.amperity_id WHERE m.treatment = \'t\' '
        "ORDER BY m.amperity_id")
