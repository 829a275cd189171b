"""The definitions load for every deployment, and the asset graph matches its snapshot.

An intended change to the graph: run with CDP_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.deployment import DEMO_TENANT_DIR
from cdp_pipelines_tests.conftest import TINY_TENANT

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _graph(defs) -> str:
    """Every asset key with its group, upstream keys and checks, one per line."""
    lines = []
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ",".join(sorted(k.to_user_string() for k in node.parent_keys))
        checks = ",".join(sorted(c.name for c in node.check_keys))
        lines.append(f"{key.to_user_string()} group={node.group_name} deps=[{deps}] "
                     f"checks=[{checks}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("tenant, name", [(DEMO_TENANT_DIR, "demo"), (TINY_TENANT, "tiny")])
@pytest.mark.parametrize("sandbox", [None, "feature_x"])
def test_definitions_load_and_match_snapshot(tmp_path, tenant, name, sandbox) -> None:
    env = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path), "CDP_TENANT_DIR": str(tenant)}
    if sandbox:
        env["CDP_SANDBOX"] = sandbox
    defs = build_definitions(env)
    assert defs.resolve_job_def("cdp_all") is not None
    graph = _graph(defs)
    snapshot = SNAPSHOTS / f"asset_graph_{name}.txt"
    if os.environ.get("CDP_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(graph)
    assert graph == snapshot.read_text(), "asset graph changed: see the docstring"
