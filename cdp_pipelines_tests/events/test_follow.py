"""`cdp collect load --follow`: one long-lived process with one Spark session loads the
closed landing files every few seconds, reports each load to the Dagster instance, and
the event sensor stands down while it runs and takes over when it stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance, build_sensor_context

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.events.follow import follower_alive, heartbeat_path
from cdp_pipelines.orchestration.sensors import event_sensor_name
from cdp_pipelines_tests.events.test_end_to_end import _send_with_segment

PROJECT = Path(__file__).resolve().parents[2]


def _rows(spark, lake: Path) -> set[str]:
    from pyspark.errors import AnalysisException

    path = lake / "prod" / "domain" / "web_events"
    try:
        return {r["message_id"] for r in spark.read.format("delta").load(str(path))
                .select("message_id").collect()}
    except AnalysisException:  # no commit yet
        return set()


def test_a_follower_loads_every_few_seconds_and_the_sensor_stands_down(
        event_env, collector, spark, tmp_path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**event_env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT),
           "CDP_SPARK_MASTER": "local[1]"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "cdp_pipelines.cli", "collect", "load", "--follow",
         "--interval", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 600
        while follower_alive(collector.landing) is None:
            assert follower.poll() is None, follower.stdout.read()
            assert time.monotonic() < deadline, "the follower never started"
            time.sleep(0.5)

        # The sensor stands down while the follower's heartbeat is fresh.
        defs = build_definitions(event_env)
        sensor = defs.resolve_sensor_def(event_sensor_name("web"))
        tick = sensor.evaluate_tick(build_sensor_context(
            instance=DagsterInstance.ephemeral(), definitions=defs))
        assert tick.run_requests == [] and "collect load --follow" in tick.skip_message

        sent, (errors, blocked) = _send_with_segment(collector.url)
        assert not errors
        sent_at = time.monotonic()
        lake = Path(event_env["CDP_LAKE_ROOT"])
        while not (sent - {blocked}) <= _rows(spark, lake):
            assert follower.poll() is None, follower.stdout.read()
            # Generous: a load takes seconds on an idle machine, minutes on a busy one.
            assert time.monotonic() - sent_at < 600, "events not loaded within 10 minutes"
            time.sleep(1)
        assert blocked not in _rows(spark, lake)
    finally:
        follower.send_signal(signal.SIGTERM)
        out, _ = follower.communicate(timeout=600)
    assert follower.returncode == 0, out
    assert "inserted" in out
    # Stopped: its heartbeat is gone and the sensor takes over.
    assert not heartbeat_path(collector.landing).exists()
    assert follower_alive(collector.landing) is None

    # Each load is in the instance's history of the tables.
    with DagsterInstance.from_config(str(home)) as instance:
        latest = instance.get_latest_materialization_event(AssetKey(["domain", "web_events"]))
        assert latest is not None
        metadata = latest.asset_materialization.metadata
        assert "collect load --follow" in metadata["loaded_by"].value
        assert metadata["files_loaded"].value >= 1
    # Every message once, however many loads it took.
    rows = spark.read.format("delta").load(str(lake / "prod" / "domain" / "web_events"))
    assert rows.count() == rows.select("message_id").distinct().count()


def test_a_stale_heartbeat_is_not_a_follower(tmp_path) -> None:
    heartbeat_path(tmp_path).write_text(json.dumps({"pid": 1, "host": "h", "at": 1000.0}))
    assert follower_alive(tmp_path, now=1030.0)["pid"] == 1
    assert follower_alive(tmp_path, now=1000.0 + 61) is None
    heartbeat_path(tmp_path).write_text("not json")
    assert follower_alive(tmp_path) is None
