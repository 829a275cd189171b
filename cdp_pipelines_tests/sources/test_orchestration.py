"""Courier groups as schedules and checks, and file-arrival sensors, on a real Dagster
instance (and moto, Azurite, sshd for the sensors)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SkipReason,
    build_sensor_context,
    materialize,
)
from pydantic import ValidationError

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import COURIER_GROUP_TAG as GROUP_TAG
from cdp_pipelines.keys import SCHEDULED_TAG
from cdp_pipelines.orchestration import (
    build_courier_group_checks,
    build_schedules,
    build_sensors,
    wait_minutes_for,
)
from cdp_pipelines.orchestration.sensors import new_files
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.sources.assets import build_courier_asset, build_source_assets
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines.tenant.model import Tenant, TenantSpec
from cdp_pipelines.tenant.references import check_references
from cdp_pipelines.tenant.schedules import CourierGroupSpec
from cdp_pipelines.tenant.sources import CourierSpec, SourceSpec
from cdp_pipelines.transports import make_store, parse_options
from cdp_pipelines_tests.conftest import TINY_TENANT
from cdp_pipelines_tests.sources.conftest import REMOTE_TYPES, store_options


def group(when_missing: str = "fail", courier: str = "shop_customers", **extra):
    return CourierGroupSpec(name="morning", cron="0 6 * * *", timezone="America/New_York",
                            couriers=[{"courier": courier, "wait_minutes": 30,
                                       "when_missing": when_missing},
                                      {"courier": "club_members", "when_missing": "ignore"}],
                            **extra)


def test_group_schedule_runs_its_couriers_and_downstream(tmp_path) -> None:
    config = load_tenant(TINY_TENANT, env={"CDP_TEST_DROP": str(tmp_path)})
    prod = Deployment(lake_root=str(tmp_path / "lake"), tenant_dir=TINY_TENANT)
    sandbox = Deployment(lake_root=str(tmp_path / "lake"), sandbox="try", tenant_dir=TINY_TENANT)
    config = config.model_copy(update={"courier_groups": (group(),)})
    (schedule,) = build_schedules(config, prod)
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "America/New_York"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert build_schedules(config, sandbox)[0].default_status == (
        DefaultScheduleStatus.STOPPED)

    spark = SparkResource()
    defs = Definitions(assets=build_source_assets(config, prod), schedules=[schedule],
                       resources={"spark": spark, "lake": DeltaLake.for_deployment(spark, prod)})
    job = defs.resolve_job_def("courier_group_morning")
    keys = {"/".join(k.path) for k in job.asset_layer.selected_asset_keys}
    assert {"landing/shop/shop_customers", "landing/club/club_members",
            "domain/shop_customers", "domain/club_members"} <= keys
    assert "landing/shop/shop_orders" not in keys and "domain/shop_orders" not in keys
    assert job.tags[GROUP_TAG] == "morning"
    assert wait_minutes_for(job.tags, "shop_customers") == 30
    assert wait_minutes_for({}, "shop_customers") == 0


def test_group_config_errors_name_the_field(tmp_path) -> None:
    with pytest.raises(ValidationError, match="not a valid cron"):
        CourierGroupSpec(name="g", cron="every morning", couriers=[{"courier": "a"}])
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        CourierGroupSpec(name="g", cron="0 6 * * *", timezone="Mars/Olympus",
                         couriers=[{"courier": "a"}])
    config = load_tenant(TINY_TENANT, env={"CDP_TEST_DROP": str(tmp_path)})
    with pytest.raises(ValueError, match=r"groups\[0\] \(morning\)\.couriers\[0\] names "
                                         r"courier 'nope'"):
        check_references(config.model_copy(update={"courier_groups": (group(courier="nope"),)}),
                         [])


def one_courier_tenant(root: Path, pattern: str) -> tuple[Tenant, SourceSpec]:
    courier = CourierSpec(name="shop_customers", root=str(root), pattern=pattern,
                          when_missing="ignore")
    club = CourierSpec(name="club_members", root=str(root), pattern="club_*.psv")
    source = SourceSpec(name="shop", couriers=(courier, club))
    return Tenant(root=root, tenant=TenantSpec(name="t"), sources=(source,)), source


def run_group(config, source, deployment, groups, tags):
    assets = [build_courier_asset(source, c, deployment) for c in source.couriers]
    config = config.model_copy(update={"courier_groups": tuple(groups)})
    checks = build_courier_group_checks(config, deployment)
    result = materialize([*assets, *checks], instance=DagsterInstance.ephemeral(),
                         tags={GROUP_TAG: "morning", **tags}, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_key == AssetKey(["landing", "shop", "shop_customers"])
    return result, evaluation


def test_stop_when_missing_fails_the_run_naming_the_pattern(tmp_path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    config, source = one_courier_tenant(drop, "customers_*.csv")
    deployment = Deployment(lake_root=str(tmp_path / "lake"))
    result, evaluation = run_group(config, source, deployment, [group("fail")], {})
    assert not result.success
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == ("courier group morning: courier shop_customers landed "
                                       "no new file matching 'customers_*.csv' in this run")

    (drop / "customers_a.csv").write_text("id\n1\n")
    result, evaluation = run_group(config, source, deployment, [group("fail")], {})
    assert result.success and evaluation.passed


def test_notify_when_missing_warns_for_the_scheduled_day(tmp_path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "customers_20261101.csv").write_text("id\n1\n")
    config, source = one_courier_tenant(drop, "customers_{yyyy}{MM}{dd}.csv")
    deployment = Deployment(lake_root=str(tmp_path / "lake"))
    # 06:00 in New York on 2 Nov is 11:00 UTC: the file expected is the 2 Nov one.
    tags = {SCHEDULED_TAG: "2026-11-02T11:00:00+00:00"}
    result, evaluation = run_group(config, source, deployment, [group("warn")], tags)
    assert result.success
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert "'customers_{yyyy}{MM}{dd}.csv' dated 2026-11-02" in evaluation.description

    (drop / "customers_20261102.csv").write_text("id\n2\n")
    result, evaluation = run_group(config, source, deployment, [group("warn")], tags)
    assert result.success and evaluation.passed


@pytest.mark.parametrize("kind", REMOTE_TYPES)
def test_file_arrival_sensor_runs_on_new_files_only(kind, request, monkeypatch,
                                                    tmp_path) -> None:
    options = store_options(kind, request, monkeypatch)
    courier = CourierSpec(name="drops", type=kind, pattern="in/*.csv", options=options)
    local = CourierSpec(name="local_drops", root=str(tmp_path), pattern="*.csv")
    config = Tenant(root=tmp_path, tenant=TenantSpec(name="t"), sources=(
        SourceSpec(name="partner", couriers=(courier, local)),))
    (sensor,) = build_sensors(config, Deployment(lake_root=str(tmp_path / "lake")))
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    sandbox = Deployment(lake_root=str(tmp_path / "lake"), sandbox="try")
    assert build_sensors(config, sandbox)[0].default_status == DefaultSensorStatus.STOPPED

    store = make_store(parse_options({"type": kind, **options}))
    instance = DagsterInstance.ephemeral()
    try:
        context = build_sensor_context(instance=instance)
        assert isinstance(sensor(context), SkipReason)
        store.write_bytes("in/a.csv", b"id\n1\n")
        store.write_bytes("in/notes.txt", b"not a match\n")
        first = sensor(context)
        assert isinstance(first, RunRequest) and first.tags["cdp/courier"] == "drops"
        assert list(json.loads(context.cursor)["recent"]) == ["in/a.csv"]

        # A restarted daemon gets the stored cursor back: nothing new, no run.
        restarted = build_sensor_context(instance=instance, cursor=context.cursor)
        assert isinstance(sensor(restarted), SkipReason)
        store.write_bytes("in/b.csv", b"id\n2\n")
        second = sensor(restarted)
        assert isinstance(second, RunRequest) and second.run_key != first.run_key
        assert sorted(json.loads(restarted.cursor)["recent"]) == ["in/a.csv", "in/b.csv"]

        # While a run of the courier is going, new files wait for one run after it.
        going = instance.add_run(DagsterRun(job_name="courier_drops",
                                            status=DagsterRunStatus.STARTED,
                                            tags={"cdp/courier": "drops"}))
        store.write_bytes("in/c.csv", b"id\n3\n")
        store.write_bytes("in/d.csv", b"id\n4\n")
        held = sensor(restarted)
        assert isinstance(held, SkipReason) and going.run_id in held.skip_message
        instance.report_run_failed(going)
        after = sensor(restarted)
        assert isinstance(after, RunRequest) and after.run_key not in {first.run_key,
                                                                       second.run_key}
        assert isinstance(sensor(restarted), SkipReason)
    finally:
        store.close()


def _at(hours: float) -> str:
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(hours=hours)
    return moment.isoformat(timespec="microseconds")


def test_file_arrival_cursor_is_a_watermark_and_a_day_of_names() -> None:
    listing = {f"in/{i:05d}.csv": [10, _at(i)] for i in range(100)}  # one file an hour
    fresh, cursor = new_files(None, listing)
    assert len(fresh) == 100
    state = json.loads(cursor)
    # Bounded: the newest time and the files of the last day, not all 100.
    assert state["through"] == _at(99)
    assert sorted(state["recent"]) == [f"in/{i:05d}.csv" for i in range(75, 100)]
    assert new_files(cursor, listing)[0] == []

    # Listed late with an older time (inside the window), rewritten, or newer: all caught.
    listing["in/late.csv"] = [5, _at(90)]
    listing["in/00098.csv"] = [11, _at(98.5)]
    listing["in/new.csv"] = [7, _at(100)]
    fresh, cursor = new_files(cursor, listing)
    assert fresh == ["in/00098.csv", "in/late.csv", "in/new.csv"]
    assert new_files(cursor, listing)[0] == []

    # A cursor of the earlier format (every file, no watermark) carries on without re-runs.
    old = json.dumps(listing)
    assert new_files(old, listing)[0] == []
