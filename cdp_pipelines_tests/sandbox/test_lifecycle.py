"""Sandbox lifecycle on real git repositories: create, list, pull, promote, delete, roles, audit.

No Spark here; the data side is in test_sandbox_data.py.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
from pathlib import Path

import pytest
import yaml

from cdp_pipelines.deployment import get_deployment
from cdp_pipelines.governance.audit import AuditLog
from cdp_pipelines.governance.roles import AccessDenied, RolesError
from cdp_pipelines.sandbox import cli
from cdp_pipelines.sandbox.gitrepo import MergeConflict, Repo
from cdp_pipelines.sandbox.lifecycle import SandboxError
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.sandbox.conftest import as_user


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _commit_in_production(env: dict[str, str], file: str, text: str, message: str) -> None:
    tenant = Path(env["CDP_TENANT_DIR"])
    (tenant / file).write_text(text)
    Repo(tenant, "carol").commit_all(message)


def _audit(env: dict[str, str]) -> list:
    return list(AuditLog(as_user(env, "alice").settings.audit_file).events())


def test_create_sets_up_a_separate_deployment(prod_env: dict[str, str]) -> None:
    messages: list[str] = []
    state = as_user(prod_env, "bob", log=messages.append).create("trial")
    tenant = Path(prod_env["CDP_TENANT_DIR"])
    # The tenant was not a repository: create made one, and said so.
    assert (tenant / ".git").is_dir() and "was not a git repository" in messages[0]
    assert _git(tenant, "log", "--format=%s") == (
        "Production tenant configuration (initialised by cdp sandbox create)")
    # The worktree is branch sandbox/trial, holding production's files.
    assert _git(state.worktree, "rev-parse", "--abbrev-ref", "HEAD") == "sandbox/trial"
    assert (state.worktree / "sources" / "shop.yaml").read_text() == (
        tenant / "sources" / "shop.yaml").read_text()
    assert state.owner == "bob" and state.port == 3001
    assert state.base_commit == _git(tenant, "rev-parse", "HEAD")

    workspace = yaml.safe_load(state.workspace.read_text())["load_from"][0]["python_module"]
    assert workspace["module_name"] == "cdp_pipelines.definitions"
    assert workspace["location_name"] == "sandbox-trial"
    assert (state.dagster_home / "dagster.yaml").is_file()

    argv, env = as_user(prod_env, "olga").ui_command("trial")
    assert argv[1:] == ["dev", "-w", str(state.workspace), "-p", "3001"]
    assert env["DAGSTER_HOME"] == str(state.dagster_home)
    deployment = get_deployment(env)
    assert deployment.sandbox == "trial" and deployment.tenant_dir == state.worktree
    assert deployment.root == f"{prod_env['CDP_LAKE_ROOT']}/branches/trial"
    assert deployment.landing_read_path("shop") == f"{prod_env['CDP_LAKE_ROOT']}/prod/landing/shop"

    second = as_user(prod_env, "alice").create("second")
    assert second.port == 3002
    listed = {s.state.name: s for s in as_user(prod_env, "olga").list()}
    assert set(listed) == {"trial", "second"}
    assert (listed["trial"].ahead, listed["trial"].behind) == (0, 0)

    with pytest.raises(SandboxError, match="already exists"):
        as_user(prod_env, "bob").create("trial")
    with pytest.raises(Exception, match="not a valid sandbox name"):
        as_user(prod_env, "bob").create("Bad Name")


def test_tenant_inside_another_repository_is_refused(prod_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    _git(tmp_path, "init", "--quiet")
    with pytest.raises(SandboxError, match="inside the git repository"):
        as_user(prod_env, "bob").create("trial")


def test_pull_brings_production_changes_and_reports_conflicts(prod_env: dict[str, str]) -> None:
    state = as_user(prod_env, "bob").create("trial")
    _commit_in_production(prod_env, "stitch.yaml", "match_threshold: 0.95\n", "stricter")
    assert [s.behind for s in as_user(prod_env, "bob").list()] == [1]

    pulled = as_user(prod_env, "bob").pull("trial")
    assert (state.worktree / "stitch.yaml").read_text() == "match_threshold: 0.95\n"
    assert pulled.base_commit == _git(Path(prod_env["CDP_TENANT_DIR"]), "rev-parse", "HEAD")

    # Both sides change the same line: the pull stops, names the file, merges nothing.
    (state.worktree / "stitch.yaml").write_text("match_threshold: 0.8\n")
    _commit_in_production(prod_env, "stitch.yaml", "match_threshold: 0.99\n", "even stricter")
    with pytest.raises(MergeConflict) as conflict:
        as_user(prod_env, "bob").pull("trial")
    assert conflict.value.files == ["stitch.yaml"]
    assert (state.worktree / "stitch.yaml").read_text() == "match_threshold: 0.8\n"
    assert not Repo(state.worktree).dirty_files()
    assert as_user(prod_env, "bob").get("trial").base_commit == pulled.base_commit
    last = _audit(prod_env)[-1]
    assert (last.action, last.outcome, last.user) == ("pull", "failed", "bob")
    assert "stitch.yaml" in last.detail


def test_promote_merges_config_after_validation_and_refuses_a_moved_production(
        prod_env: dict[str, str]) -> None:
    tenant = Path(prod_env["CDP_TENANT_DIR"])
    state = as_user(prod_env, "bob").create("trial")
    (state.worktree / "stitch.yaml").write_text("match_threshold: 0.8\n")

    diff = as_user(prod_env, "bob").diff("trial", data=False)
    assert "+match_threshold: 0.8" in diff.config_diff and "stitch.yaml" in diff.config_stat
    assert not diff.production_changed

    _commit_in_production(prod_env, "tenant.yaml",
                          "name: tiny_shop\ndescription: Changed in production.\n", "describe")
    assert as_user(prod_env, "alice").diff("trial", data=False).production_changed
    with pytest.raises(SandboxError, match="production changed since sandbox trial last pulled"):
        as_user(prod_env, "alice").promote("trial", "Looser Stitch threshold")
    assert not (tenant / "stitch.yaml").exists()

    as_user(prod_env, "bob").pull("trial")
    # An invalid sandbox config is not promoted.
    (state.worktree / "stitch.yaml").write_text("match_threshold: lots\n")
    with pytest.raises(SandboxError, match="stitch.yaml: match_threshold"):
        as_user(prod_env, "alice").promote("trial", "Broken")
    (state.worktree / "stitch.yaml").write_text("match_threshold: 0.8\n")

    promotion = as_user(prod_env, "alice").promote("trial", "Looser Stitch threshold")
    assert load_tenant(tenant).stitch.match_threshold == 0.8
    assert load_tenant(tenant).tenant.description == "Changed in production."
    assert _git(tenant, "log", "-1", "--format=%s%n%b") == (
        "Looser Stitch threshold\nPromoted from sandbox trial by alice")
    assert promotion.commit == _git(tenant, "rev-parse", "HEAD")
    assert "stitch.yaml" in promotion.files
    # The sandbox follows production and has nothing left to promote.
    assert as_user(prod_env, "alice").get("trial").base_commit == promotion.commit
    with pytest.raises(SandboxError, match="no change to promote"):
        as_user(prod_env, "alice").promote("trial", "again")

    # Uncommitted edits in production's directory also block a promotion.
    (state.worktree / "tenant.yaml").write_text("name: tiny_shop\ndescription: Sandbox.\n")
    (tenant / "roles.yaml").write_text("users: {}\n")
    with pytest.raises(SandboxError, match=r"uncommitted changes \(roles.yaml\)"):
        as_user(prod_env, "alice").promote("trial", "describe", delete=True)
    (tenant / "roles.yaml").unlink()
    done = as_user(prod_env, "alice").promote("trial", "describe", delete=True)
    assert done.deleted and as_user(prod_env, "alice").list() == []
    assert load_tenant(tenant).tenant.description == "Sandbox."

    promotions = [e for e in _audit(prod_env) if e.action == "promote"]
    assert [(e.outcome, e.user) for e in promotions] == [
        ("failed", "alice"), ("failed", "alice"), ("ok", "alice"), ("failed", "alice"),
        ("failed", "alice"), ("ok", "alice")]
    assert promotions[2].commit == promotion.commit
    assert promotions[2].detail.startswith("Looser Stitch threshold")


def test_roles_refuse_with_the_role_needed(prod_env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(AccessDenied, match="needs one of the roles administrator, sandbox-admin"):
        as_user(prod_env, "ana").create("trial")
    with pytest.raises(AccessDenied, match="olga.*roles: operator"):
        as_user(prod_env, "olga").create("trial")
    with pytest.raises(AccessDenied, match="roles: none"):
        as_user(prod_env, "mallory").list()
    as_user(prod_env, "bob").create("trial")
    (Path(as_user(prod_env, "bob").get("trial").worktree) / "stitch.yaml").write_text(
        "match_threshold: 0.8\n")
    with pytest.raises(AccessDenied, match="needs role sandbox-admin"):
        as_user(prod_env, "bob").promote("trial", "mine")
    with pytest.raises(AccessDenied, match="needs one of the roles operator"):
        as_user(prod_env, "ana").ui_command("trial")
    as_user(prod_env, "alice").create("other")
    with pytest.raises(AccessDenied, match="needs role sandbox-admin"):
        as_user(prod_env, "bob").delete("other")
    as_user(prod_env, "bob").delete("trial")  # an administrator may delete their own
    as_user(prod_env, "alice").delete("other")

    refused = [e for e in _audit(prod_env) if e.outcome == "refused"]
    assert [(e.user, e.action) for e in refused] == [
        ("ana", "create"), ("olga", "create"), ("bob", "promote"), ("ana", "ui"),
        ("bob", "delete")]
    assert all("needs" in e.detail for e in refused)

    # Without a roles file everyone is administrator: may create, may not promote.
    no_file = {**prod_env, "CDP_ROLES_FILE": str(tmp_path / "missing.yaml")}
    state = as_user(no_file, "anyone").create("free")
    (state.worktree / "stitch.yaml").write_text("match_threshold: 0.8\n")
    with pytest.raises(AccessDenied, match="no roles file"):
        as_user(no_file, "anyone").promote("free", "try")
    with pytest.raises(RolesError, match="CDP_USER is not set"):
        as_user(no_file, "").list()
    (tmp_path / "bad.yaml").write_text("users: {zed: [superuser]}\n")
    with pytest.raises(RolesError, match=r"bad.yaml: users.zed: unknown role"):
        as_user({**prod_env, "CDP_ROLES_FILE": str(tmp_path / "bad.yaml")}, "zed").list()


def test_delete_removes_its_deployment_and_lake_prefix_only(prod_env: dict[str, str]) -> None:
    lake = Path(prod_env["CDP_LAKE_ROOT"])
    kept = [lake / "prod" / "domain" / "t" / "part-0.parquet",
            lake / "branches" / "other" / "domain" / "t" / "part-0.parquet"]
    gone = lake / "branches" / "trial" / "domain" / "t" / "part-0.parquet"
    for path in (*kept, gone):
        path.parent.mkdir(parents=True)
        path.write_text("x")
    state = as_user(prod_env, "bob").create("trial")
    commit = _git(state.worktree, "rev-parse", "HEAD")

    removed = as_user(prod_env, "bob").delete("trial")
    assert removed == str(lake / "branches" / "trial")
    assert not (lake / "branches" / "trial").exists() and all(p.is_file() for p in kept)
    assert not Path(state.directory).exists()
    tenant = Path(prod_env["CDP_TENANT_DIR"])
    assert _git(tenant, "branch", "--list", "sandbox/*") == ""
    assert str(state.worktree) not in _git(tenant, "worktree", "list")
    last = _audit(prod_env)[-1]
    assert (last.action, last.outcome, last.commit) == ("delete", "ok", commit)
    with pytest.raises(SandboxError, match="no sandbox named 'trial'"):
        as_user(prod_env, "bob").delete("trial")


def _cli(env: dict[str, str], monkeypatch, *argv: str) -> int:
    for key in ("CDP_TENANT_DIR", "CDP_LAKE_ROOT", "CDP_SANDBOX_ROOT", "CDP_ROLES_FILE",
                "CDP_USER"):
        monkeypatch.setenv(key, env[key])
    parser = argparse.ArgumentParser(prog="cdp")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_and_audit_log(prod_env: dict[str, str], monkeypatch, capsys,
                           tmp_path: Path) -> None:
    assert _cli(prod_env, monkeypatch, "sandbox", "create", "trial") == 0
    out = capsys.readouterr()
    assert "port 3001" in out.out and "was not a git repository" in out.err
    assert _cli({**prod_env, "CDP_USER": "ana"}, monkeypatch, "sandbox", "delete", "trial") == 1
    assert "refused:" in capsys.readouterr().err
    (tmp_path / "sandboxes" / "trial" / "tenant" / "stitch.yaml").write_text(
        "match_threshold: 0.8\n")
    assert _cli(prod_env, monkeypatch, "sandbox", "diff", "trial", "--no-data") == 0
    assert "+match_threshold: 0.8" in capsys.readouterr().out
    assert _cli(prod_env, monkeypatch, "sandbox", "promote", "trial", "-m", "Looser",
                "--delete") == 0
    assert "promoted sandbox trial" in capsys.readouterr().out
    assert _cli(prod_env, monkeypatch, "sandbox", "list") == 0
    assert capsys.readouterr().out.strip() == "no sandboxes"

    assert _cli(prod_env, monkeypatch, "audit", "show") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1:5] for line in lines] == [
        ["alice", "create", "trial", "ok"], ["ana", "delete", "trial", "refused"],
        ["alice", "promote", "trial", "ok"], ["alice", "delete", "trial", "ok"]]
    target = tmp_path / "audit.csv"
    assert _cli(prod_env, monkeypatch, "audit", "show", "--csv", str(target)) == 0
    rows = list(csv.DictReader(target.open()))
    assert [r["action"] for r in rows] == ["create", "delete", "promote", "delete"]
    assert rows[2]["commit"] == _git(Path(prod_env["CDP_TENANT_DIR"]), "rev-parse", "HEAD")
    assert rows[0]["roles"] == "sandbox-admin" and rows[2]["detail"].startswith("Looser")
    # The log lives in production's system area of the lake, one JSON object a line.
    log = Path(prod_env["CDP_LAKE_ROOT"]) / "prod" / "_system" / "audit" / "audit_log.jsonl"
    assert len(log.read_text().splitlines()) == 4
    assert _cli({**prod_env, "CDP_USER": "ana"}, monkeypatch, "audit", "show") == 1
    assert "needs one of the roles operator" in capsys.readouterr().err
