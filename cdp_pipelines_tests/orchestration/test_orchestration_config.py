"""Orchestrations config: references checked across activation files, with file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import AssetKey

from cdp_pipelines.deployment import DEMO_TENANT_DIR, get_deployment
from cdp_pipelines.orchestration.orchestrations import build_orchestration_triggers
from cdp_pipelines.tenant import ConfigError, load_tenant

SEGMENTS = {"segments": [{"name": "buyers", "sql": "SELECT amperity_id FROM c360.customer_360"}]}
CAMPAIGNS = {"campaigns": [{
    "name": "promo", "include": "buyers",
    "treatments": [{"name": "email", "percent": 80, "destination": "drop"}],
    "control": {"percent": 20}}]}
DESTINATIONS = {"destinations": [{"name": "drop", "type": "local", "options": {"root": "/tmp"}}]}
TEMPLATES = {"templates": [{"name": "basic", "fields": {"id": "amperity_id"}}]}


def _tenant(tmp_path: Path, orchestrations: list[dict], **overrides) -> Path:
    (tmp_path / "activation").mkdir(parents=True)
    (tmp_path / "tenant.yaml").write_text("name: t\n")
    files = {"segments": SEGMENTS, "campaigns": CAMPAIGNS, "destinations": DESTINATIONS,
             "templates": TEMPLATES, "orchestrations": {"orchestrations": orchestrations},
             **overrides}
    for name, content in files.items():
        (tmp_path / "activation" / f"{name}.yaml").write_text(yaml.safe_dump(content))
    return tmp_path


def _load(root: Path):
    return load_tenant(root, env={})


def test_a_valid_orchestration_becomes_a_job_schedule_and_no_sensor(tmp_path: Path) -> None:
    root = _tenant(tmp_path, [{"name": "weekly", "campaign": "promo", "template": "basic",
                               "schedule": {"cron": "0 7 * * 1", "timezone": "Europe/Paris"}}])
    cfg = _load(root)
    assert cfg.routes(cfg.orchestrations[0]) == [("email", "drop")]
    jobs, schedules, sensors = build_orchestration_triggers(
        cfg, get_deployment({"CDP_LAKE_ROOT": str(tmp_path / "lake")}), {})
    assert [j.name for j in jobs] == ["orchestration_weekly"]
    assert [(s.cron_schedule, s.execution_timezone) for s in schedules] == [
        ("0 7 * * 1", "Europe/Paris")]
    assert sensors == []


@pytest.mark.parametrize("orchestration, overrides, message", [
    ({"name": "o", "campaign": "nope"}, {},
     r"orchestrations\.yaml: orchestrations\[0\] \(o\)\.campaign: no campaign named 'nope'"),
    ({"name": "o", "segment": "buyers"}, {}, r"'destination' is required for a segment"),
    ({"name": "o", "segment": "buyers", "campaign": "promo"}, {},
     r"exactly one of campaign, segment or query"),
    ({"name": "o", "segment": "buyers", "destination": "ftp"}, {},
     r"\.destination: 'ftp' is not in activation/destinations\.yaml"),
    ({"name": "o", "campaign": "promo", "template": "fancy"}, {},
     r"template 'fancy' is not in activation/templates\.yaml"),
    ({"name": "o", "campaign": "promo", "templates": {"other": "basic"}}, {},
     r"\.templates: \['other'\] are not destinations of this orchestration"),
    ({"name": "o", "campaign": "promo", "after_courier_group": "nightly"}, {},
     r"after_courier_group: no courier group 'nightly'"),
    ({"name": "o", "campaign": "promo", "schedule": {"cron": "0 7 * * *", "timezone": "Mars"}},
     {}, r"timezone 'Mars' is not an IANA time zone"),
    ({"name": "o", "campaign": "promo"},
     {"destinations": {"destinations": []}},
     r"campaigns\.yaml: campaign promo: treatments\[0\]\.destination 'drop' is not in"),
])
def test_wrong_references_name_file_and_field(tmp_path: Path, orchestration, overrides,
                                             message) -> None:
    root = _tenant(tmp_path, [orchestration], **overrides)
    with pytest.raises(ConfigError, match=message):
        _load(root)


def test_the_demo_tenant_delivers_its_campaign_after_the_nightly_group() -> None:
    cfg = _load(DEMO_TENANT_DIR)
    (o,) = cfg.orchestrations
    assert o.campaign == "holiday_thanks" and o.after_courier_group == "nightly_stores"
    assert cfg.destinations["email_platform_s3"].type == "s3"


@pytest.mark.parametrize("sandbox, status", [(None, "RUNNING"), ("trial", "STOPPED")])
def test_demo_orchestration_is_a_schedule_and_an_after_group_sensor(tmp_path: Path, sandbox,
                                                                    status) -> None:
    from cdp_pipelines.definitions import build_definitions

    env = {"CDP_LAKE_ROOT": str(tmp_path / "lake"), **({"CDP_SANDBOX": sandbox} if sandbox
                                                       else {})}
    defs = build_definitions(env)
    schedules = {s.name: s for s in defs.schedules}
    sensors = {s.name: s for s in defs.sensors}
    schedule = schedules["orchestration_holiday_thanks_to_email_schedule"]
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "0 7 * * *", "America/New_York")
    assert schedule.default_status.value == status
    sensor = sensors["orchestration_holiday_thanks_to_email_after_courier_group_nightly_stores"]
    assert sensor.default_status.value == status
    job = defs.resolve_job_def("orchestration_holiday_thanks_to_email")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {"activation/deliveries/holiday_thanks_to_email",
                    "activation/campaigns/holiday_thanks", "activation/segments/recent_buyers",
                    "activation/segments/high_value", "activation/segments/staff_and_tests"}
    # The courier group refreshes audiences but does not deliver.
    group = defs.resolve_job_def("courier_group_nightly_stores")
    group_keys = {k.to_user_string() for k in group.asset_layer.selected_asset_keys}
    assert "activation/campaigns/holiday_thanks" in group_keys
    assert "activation/deliveries/holiday_thanks_to_email" not in group_keys
    # Nor does a file-arrival sensor.
    arrival = sensors["courier_ecom_order_files_file_arrival"].asset_selection.resolve(
        defs.resolve_asset_graph())
    assert AssetKey(["activation", "campaigns", "holiday_thanks"]) in arrival
    assert AssetKey(["activation", "deliveries", "holiday_thanks_to_email"]) not in arrival
