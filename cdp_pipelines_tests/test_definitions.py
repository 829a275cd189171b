"""The definitions load for every deployment; the asset graph, the jobs, schedules and
sensors (with their default status) match their snapshots.

An intended change to the graph: run with CDP_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.deployment import DEMO_TENANT_DIR
from cdp_pipelines_tests.conftest import TINY_TENANT, tiny_privacy_tenant

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _graph(defs) -> str:
    """Every asset key with its group, upstream keys, checks and concurrency pools, one per
    line."""
    lines = []
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ",".join(sorted(k.to_user_string() for k in node.parent_keys))
        checks = ",".join(sorted(c.name for c in node.check_keys))
        pools = ",".join(sorted(p for p in node.pools or () if p))
        lines.append(f"{key.to_user_string()} group={node.group_name} deps=[{deps}] "
                     f"checks=[{checks}] pools=[{pools}]")
    return "\n".join(lines) + "\n"


def _triggers(defs) -> str:
    """Every job with the assets it selects, every schedule and sensor with its default
    status (they differ between production and a sandbox), one per line."""
    repo = defs.get_repository_def()
    lines = []
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        keys = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        tags = ",".join(f"{k}={v}" for k, v in sorted(job.tags.items()))
        lines.append(f"job {job.name} tags=[{tags}] assets=[{','.join(keys)}]")
    for schedule in sorted(repo.schedule_defs, key=lambda s: s.name):
        lines.append(f"schedule {schedule.name} job={schedule.job_name} "
                     f"cron={schedule.cron_schedule} tz={schedule.execution_timezone} "
                     f"default={schedule.default_status.value}")
    for sensor in sorted(repo.sensor_defs, key=lambda s: s.name):
        jobs = ",".join(sorted(t.job_name for t in sensor.targets))
        lines.append(f"sensor {sensor.name} type={sensor.sensor_type.value} jobs=[{jobs}] "
                     f"default={sensor.default_status.value}")
    return "\n".join(lines) + "\n"


def _check_snapshot(text: str, name: str, what: str) -> None:
    snapshot = SNAPSHOTS / name
    if os.environ.get("CDP_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text)
    assert text == snapshot.read_text(), f"{what} changed: see the docstring"


@pytest.mark.parametrize("name", ["demo", "tiny", "tiny_privacy"])
@pytest.mark.parametrize("sandbox", [None, "feature_x"])
def test_definitions_load_and_match_snapshot(tmp_path, name, sandbox) -> None:
    tenant = {"demo": DEMO_TENANT_DIR, "tiny": TINY_TENANT}.get(name) or \
        tiny_privacy_tenant(tmp_path / "tenant")
    env = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path), "CDP_TENANT_DIR": str(tenant)}
    if sandbox:
        env["CDP_SANDBOX"] = sandbox
    defs = build_definitions(env)
    assert defs.resolve_job_def("cdp_all") is not None
    _check_snapshot(_graph(defs), f"asset_graph_{name}.txt", "asset graph")
    deployment = "sandbox" if sandbox else "prod"
    _check_snapshot(_triggers(defs), f"triggers_{name}_{deployment}.txt",
                    "jobs, schedules or sensors")
