"""The event sensor: a run per batch of newly closed files, none while a load runs, one
more while a load left files waiting; a file closed just before the watermark is not
missed."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    build_sensor_context,
)

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.keys import EVENT_SOURCE_TAG
from cdp_pipelines.orchestration.sensors import closed_since, event_sensor_name


def _name(second: int, writer: str = "w") -> str:
    return f"20261130T1000{second:02d}000000Z-{writer}-000001.jsonl"


def test_the_cursor_is_a_watermark_with_a_look_back_window():
    fresh, cursor = closed_since(None, [_name(1), _name(2)])
    assert fresh == [_name(1), _name(2)]
    assert closed_since(cursor, [_name(1), _name(2)])[0] == []
    # Renamed just after the last listing, with a name before the watermark.
    late = _name(1, "v")
    fresh, cursor = closed_since(cursor, sorted([_name(1), late, _name(2), _name(3)]))
    assert fresh == [late, _name(3)]
    # Files far older than the watermark are the loads' business, not new arrivals.
    old = "20261130T090000000000Z-w-000001.jsonl"
    assert closed_since(cursor, sorted([old, _name(1), late, _name(2), _name(3)]))[0] == []
    assert len(json.loads(cursor)["recent"]) == 4


def test_the_sensor_requests_one_load_at_a_time(event_env):
    defs = build_definitions(event_env)
    sensor = defs.resolve_sensor_def(event_sensor_name("web"))
    landing = Path(event_env["CDP_LAKE_ROOT"]) / "prod" / "landing" / "events" / "web"
    landing.mkdir(parents=True)
    (landing / _name(1)).write_text("{}\n")
    (landing / "w-000002.jsonl.open").write_text("{}\n")
    instance = DagsterInstance.ephemeral()

    context = build_sensor_context(instance=instance, definitions=defs)
    [request] = sensor.evaluate_tick(context).run_requests
    assert request.tags[EVENT_SOURCE_TAG] == "web" and _name(1) in request.run_key
    cursor = context.cursor
    idle = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs,
                                                     cursor=cursor))
    assert idle.run_requests == [] and "no new closed file" in idle.skip_message

    # While a load runs, new files wait for it.
    job = defs.resolve_implicit_global_asset_job_def()
    run = instance.create_run_for_job(job, tags={EVENT_SOURCE_TAG: "web"},
                                      status=DagsterRunStatus.STARTED)
    (landing / _name(2)).write_text("{}\n")
    busy = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs,
                                                     cursor=cursor))
    assert busy.run_requests == [] and run.run_id in busy.skip_message
    instance.report_run_canceled(run)
    [request] = sensor.evaluate_tick(build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor)).run_requests
    assert _name(2) in request.run_key

    # A load that left files waiting asks for the next one.
    instance.report_runless_asset_event(AssetMaterialization(
        AssetKey(["domain", "web_events"]), metadata={"files_waiting": 3}))
    [request] = sensor.evaluate_tick(build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor)).run_requests
    assert isinstance(request, RunRequest) and "-after-" in request.run_key
