"""`make demo`'s tenant repository: the bundled demo tenant copied into a git repository of
its own with a roles file, so the sandbox workflow works on the demo right away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import cdp_pipelines
from cdp_pipelines.examples.demo_repo import DemoRepoError, init_demo_tenant
from cdp_pipelines.governance.roles import AccessDenied
from cdp_pipelines.sandbox.gitrepo import Repo
from cdp_pipelines.sandbox.lifecycle import Sandboxes, SandboxSettings
from cdp_pipelines.tenant import load_tenant

REPO = Path(cdp_pipelines.__file__).resolve().parent.parent


def test_the_demo_tenant_becomes_a_repository_of_its_own_once(tmp_path: Path) -> None:
    path = tmp_path / ".cdp" / "demo" / "tenant"
    first = init_demo_tenant(path, "me")

    assert first.created and first.roles == {"sandbox-admin"}
    repo = Repo(path, "me")
    assert repo.toplevel() == path.resolve() and repo.branch() == "main"
    assert repo.dirty_files() == []
    assert yaml.safe_load((path / "roles.yaml").read_text()) == {"users": {"me": ["sandbox-admin"]}}
    assert not list(path.rglob("*.py"))  # the generator is the package's, not config
    assert load_tenant(path, env={}).tenant.name

    # Idempotent: a second run keeps the repository (and what was promoted into it).
    (path / "stitch.yaml").write_text((path / "stitch.yaml").read_text() + "# tuned\n")
    repo.commit_all("tune stitch")
    again = init_demo_tenant(path, "someone-else")
    assert not again.created and again.commit == repo.head() and again.roles == frozenset()
    assert (path / "stitch.yaml").read_text().endswith("# tuned\n")


def test_a_directory_of_something_else_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoRepoError, match="is not a tenant directory"):
        init_demo_tenant(tmp_path, "me")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_sandbox_can_be_created_on_the_demo_tenant(tmp_path: Path) -> None:
    tenant = init_demo_tenant(tmp_path / "tenant", "me").path
    env = {**os.environ, "CDP_TENANT_DIR": str(tenant), "CDP_LAKE_ROOT": str(tmp_path / "lake"),
           "CDP_SANDBOX_ROOT": str(tmp_path / "sandboxes")}
    state = Sandboxes(SandboxSettings.from_env({**env, "CDP_USER": "me"})).create("trial")
    assert (state.worktree / "tenant.yaml").is_file()
    assert state.base_branch == "main" and state.owner == "me"
    with pytest.raises(AccessDenied, match="refused for user 'stranger'"):
        Sandboxes(SandboxSettings.from_env({**env, "CDP_USER": "stranger"})).create("other")


def test_after_the_demo_cdp_finds_its_tenant_repository(tmp_path: Path) -> None:
    """As a user types it after `make demo`, in the directory the demo ran in, without
    CDP_TENANT_DIR: `cdp demo tenant`, then `CDP_USER=me cdp sandbox create trial`."""
    env = {k: v for k, v in os.environ.items() if k not in ("CDP_TENANT_DIR", "CDP_USER")}
    env.update(PYTHONPATH=str(REPO), CDP_LAKE_ROOT=str(tmp_path / ".cdp" / "lake"))

    def cdp(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cdp_pipelines.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, env={**env, **extra}, timeout=300)

    made = cdp("demo", "tenant", "--user", "me")
    assert made.returncode == 0, made.stderr
    assert "me is sandbox-admin" in made.stdout
    created = cdp("sandbox", "create", "trial", CDP_USER="me")
    assert created.returncode == 0, created.stderr
    assert "sandbox trial: config " in created.stdout
    assert (tmp_path / ".cdp" / "sandboxes" / "trial" / "tenant" / "roles.yaml").is_file()
