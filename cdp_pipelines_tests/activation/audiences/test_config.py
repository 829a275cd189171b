"""Loading activation/: the test tenant loads; wrong files fail naming file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cdp_pipelines.activation.queries import rewrite_schemas
from cdp_pipelines.tenant import ConfigError, load_tenant

from .conftest import TENANT


def test_test_tenant_loads(audiences):
    assert [q.name for q in audiences.queries] == ["broken", "nobody", "top_spenders"]
    top = next(q for q in audiences.queries if q.name == "top_spenders")
    assert (top.warn_below, top.fail_below, top.warn_above) == (5, 1, None)
    assert top.statement().endswith("lifetime_revenue >= 300")
    assert [s.name for s in audiences.segments] == ["west_high_value", "employees"]
    winback = audiences.campaigns[0]
    assert winback.segments == ["west_high_value", "employees"]
    assert winback.plan() == [("control", 1000), ("email_offer", 6000), ("paid_social", 10000)]
    assert winback.columns_for("email_tool") == ("given_name", "email")
    assert "email" in winback.columns_for("ads")


def test_a_tenant_without_activation_has_nothing(tmp_path):
    (tmp_path / "tenant.yaml").write_text("name: t\n")
    cfg = load_tenant(tmp_path, env={})
    assert (cfg.queries, cfg.segments, cfg.campaigns) == ((), (), ())


@pytest.fixture
def tenant(tmp_path) -> Path:
    root = tmp_path / "tenant"
    shutil.copytree(TENANT, root)
    return root


def edit(root: Path, file: str, change) -> None:
    path = root / "activation" / file
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def load_error(root: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_tenant(root, env={})
    return str(err.value)


def test_unknown_operator_names_file_and_field(tenant):
    edit(tenant, "segments.yaml",
         lambda d: d["segments"][0]["condition"]["all"][1].update(operator="equals"))
    message = load_error(tenant)
    assert message.startswith("activation/segments.yaml: segments[0].condition.all[1].operator: "
                              "unknown operator 'equals'")


@pytest.mark.parametrize("leaf, field, text", [
    ({"attribute": "state", "operator": "in", "value": "WA"}, "value", "non-empty list"),
    ({"attribute": "state", "operator": "between", "value": [1]}, "value", "[low, high]"),
    ({"attribute": "state", "operator": "is_null", "value": 1}, "value", "takes no value"),
    ({"attribute": "d", "operator": "in_last", "value": "ninety days"}, "value", "'90 days'"),
    ({"attribute": "d", "operator": "before", "value": "yesterday"}, "value", "YYYY-MM-DD"),
    ({"attribute": "state; drop", "operator": "=", "value": 1}, "attribute", "not a column"),
    ({"attribute": "state", "operator": "=", "value": 1, "extra": 2}, "", "unknown keys"),
])
def test_value_types_are_checked_at_load(tenant, leaf, field, text):
    edit(tenant, "segments.yaml", lambda d: d["segments"][0].update(condition=leaf))
    message = load_error(tenant)
    assert message.startswith(
        f"activation/segments.yaml: segments[0].condition{'.' + field if field else ''}: ")
    assert text in message


def test_segment_needs_sql_or_condition(tenant):
    edit(tenant, "segments.yaml", lambda d: d["segments"][1].update(condition={
        "attribute": "state", "operator": "is_null"}))
    assert "segment employees: give exactly one of 'sql' or 'condition'" in load_error(tenant)


def test_percents_must_sum_to_100(tenant):
    edit(tenant, "campaigns.yaml", lambda d: d["campaigns"][0]["control"].update(percent=15))
    message = load_error(tenant)
    assert message.startswith("activation/campaigns.yaml: campaigns[0]: treatments: percents "
                              "must sum to 100")
    assert "email_offer 50 + paid_social 40 + control 15 = 105" in message


def test_percents_without_control(tenant):
    edit(tenant, "campaigns.yaml", lambda d: d["campaigns"][0].pop("control"))
    assert "= 90" in load_error(tenant)


@pytest.mark.parametrize("change, field", [
    (lambda c: c.update(include="nobody_segment"), "campaigns[0].include"),
    (lambda c: c.update(exclude=["employees", "ghosts"]), "campaigns[0].exclude[1]"),
    (lambda c: c["sub_audiences"].append({"name": "x", "segment": "ghosts"}),
     "campaigns[0].sub_audiences[1].segment"),
])
def test_missing_segment_names_file_and_field(tenant, change, field):
    edit(tenant, "campaigns.yaml", lambda d: change(d["campaigns"][0]))
    message = load_error(tenant)
    assert message.startswith(f"activation/campaigns.yaml: {field}: no segment named")
    assert "segments are ['employees', 'west_high_value']" in message


def test_other_campaign_mistakes(tenant):
    edit(tenant, "campaigns.yaml", lambda d: d["campaigns"][0].update(schedule="weekly"))
    assert "campaigns[0].schedule: " in load_error(tenant)
    edit(tenant, "campaigns.yaml", lambda d: d["campaigns"][0].update(
        schedule="one_time", attributes={"fax": ["email"]}))
    assert "destinations ['fax'] receive no treatment" in load_error(tenant)
    edit(tenant, "campaigns.yaml", lambda d: d["campaigns"][0].update(
        attributes={}, treatments=[{"name": "control", "percent": 90, "destination": "x"}]))
    assert "'control' is reserved" in load_error(tenant)


def test_query_settings_need_a_file_and_sane_thresholds(tenant):
    edit(tenant, "queries.yaml", lambda d: d["queries"].append({"name": "ghost"}))
    assert load_error(tenant).startswith(
        "activation/queries.yaml: queries[2].name: no file activation/queries/ghost.sql")
    edit(tenant, "queries.yaml", lambda d: d["queries"].pop() and d["queries"][0].update(
        warn_below=0))
    assert "queries[0]: fail_below (1) must not be greater than warn_below (0)" in load_error(
        tenant)
    edit(tenant, "queries.yaml", lambda d: d["queries"][0].update(warn_below=5, typo=1))
    assert "queries[0].typo: Extra inputs are not permitted" in load_error(tenant)


def test_duplicate_names(tenant):
    edit(tenant, "segments.yaml", lambda d: d["segments"].append(d["segments"][0]))
    assert ("activation/segments.yaml: segments[2].name: 'west_high_value' is already used by "
            "segments[0]") in load_error(tenant)


def test_sandbox_schema_rewrite():
    sql = ("SELECT c.x, 'c360.y' AS label FROM c360.customer_360 c "
           'JOIN delta."stitch" . unified_coalesced u ON true JOIN my_c360.t ON true '
           "JOIN x.c360.t ON true WHERE c.c360 = 1")
    assert rewrite_schemas(sql, "sb_", ["c360", "stitch"]) == (
        "SELECT c.x, 'c360.y' AS label FROM sb_c360.customer_360 c "
        'JOIN delta."sb_stitch" . unified_coalesced u ON true JOIN my_c360.t ON true '
        "JOIN x.c360.t ON true WHERE c.c360 = 1")
    assert rewrite_schemas(sql, "", ["c360"]) == sql


def test_one_per_household_needs_households(tenant):
    (tenant / "stitch.yaml").write_text("households: {enabled: false}\n")
    message = load_error(tenant)
    assert message.startswith("activation/campaigns.yaml: campaigns[1].one_per_household: "
                              "households are off in stitch.yaml")
    (tenant / "stitch.yaml").write_text("households: {match_on: []}\n")
    assert "households.match_on: name at least one of" in load_error(tenant)
