"""The embedded instance's run launcher: Dagster's default one (a process per run), plus a
worker health check so the daemon's run monitoring marks a run failed when its process
died (SIGKILL, out of memory) instead of leaving it STARTED for ever.

It reads the worker's pid from the run's "Started process for run" engine event and asks
the operating system whether that process still runs. That needs the daemon on the same
machine as the run workers, as in the embedded deployment; production deployments use
their own launcher (docker/dagster.yaml).

Before launching, it creates the slots of the run's concurrency pools (pools.py).
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, DagsterRun
from dagster._core.launcher import (
    CheckRunHealthResult,
    DefaultRunLauncher,
    LaunchRunContext,
    WorkerStatus,
)

from cdp_pipelines.pools import ensure_pool_slots


def worker_pid(instance, run_id: str) -> int | None:
    """The pid of the process that runs ``run_id``, as its engine event logged it."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    for record in reversed(records):
        event = record.event_log_entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None:
            return int(pid.value)
    return None


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (killed, not yet reaped by its parent) is dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class LocalRunLauncher(DefaultRunLauncher):
    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.execution_plan_snapshot_id:
            plan = self._instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            ensure_pool_slots(self._instance, (step.pool for step in plan.steps))
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:
            # Executed in-process (`cdp materialize`, tests) or not started yet: the run
            # itself reports how it ends.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process logged")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker process {pid} is gone (killed or crashed) while the run was "
            "in progress; re-run it: loads are idempotent")
