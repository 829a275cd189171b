"""Issue 19, item 4: the production instance (docker/dagster.yaml, the file itself) with
its PostgreSQL storage and compute logs on S3, run by the real `dagster-daemon` on the
project's workspace.

A copy of the tiny tenant gets a courier group scheduled a minute or so ahead; the daemon's
scheduler launches its run through the queued run coordinator, the run succeeds (as
PostgreSQL records it), and the run's log lines are read back from the bucket with boto3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.storage.dagster_run import RunsFilter

from cdp_pipelines.keys import SCHEDULED_TAG
from cdp_pipelines_tests import servers
from cdp_pipelines_tests.conftest import TINY_TENANT

PROJECT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUCKET = "cdp-test"  # made by the session's moto server (conftest.S3_TEST_BUCKETS)
SCHEDULE = "courier_group_signups_schedule"
# Time for the daemon to start and load the workspace before the schedule's tick.
STARTUP = timedelta(seconds=40)


def _tick_after(moment: datetime) -> datetime:
    """The first whole minute at least STARTUP after ``moment`` (cron's resolution)."""
    earliest = moment + STARTUP
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute == earliest else minute + timedelta(minutes=1)


def _tenant(tmp_path: Path, tick: datetime) -> Path:
    tenant = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, tenant)
    shutil.copy(HERE / "newsletter.yaml", tenant / "sources" / "newsletter.yaml")
    (tenant / "courier_groups.yaml").write_text(
        "groups:\n"
        "  - name: signups\n"
        f"    cron: \"{tick.minute} {tick.hour} * * *\"\n"
        "    timezone: UTC\n"
        "    couriers:\n"
        "      - {courier: newsletter_signups, when_missing: ignore}\n")
    drop = tmp_path / "drop" / "newsletter"
    drop.mkdir(parents=True)
    (drop / "signups_1.csv").write_text("signup_id,topic\n1,offers\n2,news\n")
    return tenant


def _database(postgres: servers.PostgresInfo) -> str:
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    connection = psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                                  password=postgres.password, dbname=postgres.database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return name


@pytest.fixture
def instance_env(tmp_path, postgres, s3_endpoint, monkeypatch) -> dict[str, str]:
    """The production instance's variables, pointing at the test's PostgreSQL and moto; set
    in this process too, which reads the same instance."""
    env = {
        "DAGSTER_PG_HOST": postgres.host, "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user, "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": _database(postgres),
        "DAGSTER_COMPUTE_LOGS_BUCKET": BUCKET,
        "DAGSTER_COMPUTE_LOGS_PREFIX": f"dagster/{uuid.uuid4().hex[:8]}",
        # The AWS SDK's own variables: what production sets (or an instance role gives).
        "AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "docker" / "dagster.yaml", home / "dagster.yaml")
    return {**env, "DAGSTER_HOME": str(home)}


def _wait_for_run(instance: DagsterInstance, daemon: subprocess.Popen, log: Path,
                  deadline: float):
    """The schedule's run once it has finished (the daemon's log if it never comes)."""
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log.read_text(errors="replace")[-4000:]
        runs = instance.get_runs(RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(2)
    raise AssertionError("no finished run of the schedule:\n"
                         + log.read_text(errors="replace")[-4000:])


def _compute_logs(run_id: str, env: dict[str, str], expected: str) -> dict[str, str]:
    """Every compute log object of the run in the bucket, read with the AWS SDK, once
    ``expected`` is there (the run worker uploads it as its capture closes)."""
    s3 = boto3.client("s3")  # endpoint, region and keys from the AWS_* variables
    prefix = f"{env['DAGSTER_COMPUTE_LOGS_PREFIX']}/storage/{run_id}/"
    deadline = time.monotonic() + 60
    while True:
        keys = [o["Key"] for o in
                s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        if prefix + expected in keys or time.monotonic() > deadline:
            break
        time.sleep(1)
    return {key[len(prefix):]: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            .decode(errors="replace") for key in keys}


def test_the_daemon_on_the_production_instance_runs_a_schedule_and_logs_to_s3(
        tmp_path, instance_env) -> None:
    tick = _tick_after(datetime.now(timezone.utc))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "DAGSTER_"))}
    env.update(instance_env)
    env.update({
        "CDP_TENANT_DIR": str(_tenant(tmp_path, tick)), "CDP_LAKE_ROOT": str(tmp_path / "lake"),
        "CDP_TEST_DROP": str(tmp_path / "drop"), "CDP_SPARK_MASTER": "local[1]",
        "CDP_SPARK_DRIVER_MEMORY": "1g", "CDP_SPARK_SHUFFLE_PARTITIONS": "1",
        "PYTHONPATH": str(PROJECT),
    })
    home = instance_env["DAGSTER_HOME"]
    # The storage's tables are made once here, not raced by the daemon's processes.
    DagsterInstance.from_config(home).dispose()
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run",
             "-w", str(PROJECT / "workspace.yaml")],
            cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with DagsterInstance.from_config(home) as instance:
            wait = (tick - datetime.now(timezone.utc)).total_seconds()
            run = _wait_for_run(instance, daemon, log, time.monotonic() + wait + 240)
            records = instance.all_logs(run.run_id)
    finally:
        servers.stop_process(daemon, timeout=30)

    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert run.status == DagsterRunStatus.SUCCESS, [
        r.dagster_event.step_failure_data.error.to_string() for r in records
        if r.dagster_event and r.dagster_event.event_type == DagsterEventType.STEP_FAILURE]
    # The scheduler made it, for the tick it was due (the tag the courier group's check and
    # deliveries read), and the daemon's coordinator queued it before launching it.
    assert run.tags["dagster/schedule_name"] == SCHEDULE
    assert datetime.fromisoformat(run.tags[SCHEDULED_TAG]) == tick
    kinds = [r.dagster_event.event_type for r in records if r.dagster_event]
    assert kinds.index(DagsterEventType.RUN_ENQUEUED) < kinds.index(DagsterEventType.RUN_STARTING)
    loaded = {r.dagster_event.asset_key.to_user_string(): r.asset_materialization.metadata
              for r in records if r.asset_materialization}
    assert loaded["domain/newsletter_signups"]["rows_read"].value == 2

    # Dagster recorded where it captured the run's output; that object is in the bucket and
    # holds what the run logged (the courier's line among them).
    (captured,) = [r.dagster_event.logs_captured_data for r in records if r.dagster_event
                   and r.dagster_event.event_type == DagsterEventType.LOGS_CAPTURED]
    err = f"compute_logs/{captured.file_key}.err"
    logs = _compute_logs(run.run_id, instance_env, err)
    assert err in logs, sorted(logs)
    stderr = logs[err]
    user_lines = [r.user_message for r in records if r.dagster_event is None]
    assert "newsletter_signups: 1 new file(s), 1 matching" in user_lines
    for line in user_lines:
        assert line in stderr, (line, stderr[-3000:])
    # Credentials stay out of the logs.
    assert instance_env["DAGSTER_PG_PASSWORD"] not in "".join(logs.values())


def test_a_run_worker_whose_main_has_no_file_can_import_great_expectations() -> None:
    """The code server spawns run workers (multiprocessing's spawn): their ``__main__`` has
    no file, which pyspark takes for a doctest run and exits in (status 0, mid-step) when
    Great Expectations imports pyspark.sql.connect without Spark Connect's packages."""
    out = subprocess.run([sys.executable, "-c", "import great_expectations.expectations\n"
                          "print('imported')"], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "imported", out.stderr[-2000:]
