"""Issue 17, case 5: a run whose worker process was SIGKILLed does not stay STARTED. The
embedded instance (the project's dagster.yaml) uses LocalRunLauncher, and Dagster's own
run monitoring (what the daemon runs every poll) marks the run failed."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import DagsterRun, RunsFilter
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from cdp_pipelines.orchestration.run_launcher import LocalRunLauncher, process_alive

PROJECT = Path(__file__).resolve().parents[2]


def _started_run(instance: DagsterInstance, pid: int) -> DagsterRun:
    run = instance.add_run(DagsterRun(job_name="courier_group_nightly",
                                      status=DagsterRunStatus.STARTED))
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run,
                                 EngineEventData.in_process(pid))
    return run


def _monitor(instance: DagsterInstance, run: DagsterRun) -> DagsterRunStatus:
    (record,) = instance.get_run_records(RunsFilter(run_ids=[run.run_id]))
    monitor_started_run(instance, None, record, logging.getLogger("test"))
    return instance.get_run_by_id(run.run_id).status


def test_a_killed_run_worker_fails_its_run_and_a_live_one_does_not(tmp_path) -> None:
    shutil.copy(PROJECT / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_monitoring_enabled
        worker = subprocess.Popen(["sleep", "60"])
        try:
            run = _started_run(instance, worker.pid)
            assert _monitor(instance, run) == DagsterRunStatus.STARTED
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            assert not process_alive(worker.pid)
            assert _monitor(instance, run) == DagsterRunStatus.FAILURE
        finally:
            worker.kill()
        failure = [e for e in instance.all_logs(run.run_id)
                   if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
        assert failure and f"worker process {worker.pid} is gone" in failure[0].message
