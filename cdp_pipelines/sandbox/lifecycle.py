"""Sandbox lifecycle: create, list, pull, diff, promote, delete, and the UI's command.

A sandbox ``NAME`` is
- a git branch ``sandbox/NAME`` of production's tenant directory, checked out as a
  worktree at ``<sandboxes root>/NAME/tenant/``;
- its own Dagster deployment: ``dagster_home/`` (its own SQLite instance storage),
  ``workspace.yaml``, a webserver port, and the environment ``CDP_SANDBOX=NAME``,
  ``CDP_TENANT_DIR=<worktree>`` so every write lands under ``<lake>/branches/NAME/`` and
  landing data is read from production (schedules and sensors default to off there);
- ``sandbox.json``: owner, port, branches, and the production commit of the last pull.

The sandboxes root is ``$CDP_SANDBOX_ROOT`` (default ``./.cdp/sandboxes``). Every
lifecycle action is checked against the acting user's roles and written to the audit log,
refusals and failures included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

import cdp_pipelines
from cdp_pipelines.deployment import Deployment, get_deployment
from cdp_pipelines.governance.audit import AuditLog, audit_log_path
from cdp_pipelines.governance.roles import AccessDenied, Roles, current_user, load_roles
from cdp_pipelines.resources.lake_files import LakePath
from cdp_pipelines.sandbox.gitrepo import BRANCH_PREFIX, GitError, Repo

FIRST_SANDBOX_PORT = 3001  # production's UI is on 3000
STATE_FILE = "sandbox.json"
PROJECT_DIR = Path(cdp_pipelines.__file__).resolve().parent.parent


class SandboxError(RuntimeError):
    """A sandbox action cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxSettings:
    """Every environment setting the sandbox commands use, read in one place."""

    production: Deployment
    root: Path
    roles_file: Path
    audit_file: LakePath
    env: dict[str, str]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "SandboxSettings":
        env = dict(os.environ if env is None else env)
        # The sandbox commands act on production, whatever CDP_SANDBOX says.
        production = get_deployment({k: v for k, v in env.items() if k != "CDP_SANDBOX"})
        root = Path(env.get("CDP_SANDBOX_ROOT") or "./.cdp/sandboxes").expanduser().resolve()
        roles_file = Path(env.get("CDP_ROLES_FILE")
                          or production.tenant_dir / "roles.yaml").expanduser().resolve()
        return cls(production=production, root=root, roles_file=roles_file,
                   audit_file=audit_log_path(production, env.get("CDP_AUDIT_LOG")), env=env)


@dataclass
class SandboxState:
    """What ``sandbox.json`` holds."""

    name: str
    owner: str
    created_at: str
    port: int
    branch: str
    base_branch: str
    base_commit: str  # production's commit at the last pull (or at creation)
    production_tenant_dir: str
    lake_root: str
    directory: str

    @property
    def worktree(self) -> Path:
        return Path(self.directory) / "tenant"

    @property
    def dagster_home(self) -> Path:
        return Path(self.directory) / "dagster_home"

    @property
    def workspace(self) -> Path:
        return Path(self.directory) / "workspace.yaml"

    @property
    def deployment(self) -> Deployment:
        return Deployment(lake_root=self.lake_root, sandbox=self.name, tenant_dir=self.worktree)

    def environment(self) -> dict[str, str]:
        """The variables that make a process this sandbox's deployment."""
        return {"CDP_SANDBOX": self.name, "CDP_TENANT_DIR": str(self.worktree),
                "CDP_LAKE_ROOT": self.lake_root, "DAGSTER_HOME": str(self.dagster_home)}


@dataclass
class SandboxStatus:
    state: SandboxState
    ahead: int  # sandbox commits production lacks
    behind: int  # production commits the sandbox lacks
    uncommitted: list[str] = field(default_factory=list)


@dataclass
class SandboxDiff:
    name: str
    config_diff: str
    config_stat: str
    production_changed: bool
    data: Any = None  # cdp_pipelines.sandbox.datadiff.DataDiff when asked for


@dataclass
class Promotion:
    name: str
    commit: str
    files: str
    deleted: bool


class Sandboxes:
    """The sandboxes of one production deployment, acting as ``CDP_USER``."""

    def __init__(self, settings: SandboxSettings | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.settings = settings or SandboxSettings.from_env()
        self.log = log or (lambda message: None)
        self.audit = AuditLog(self.settings.audit_file)

    # ---------------------------------------------------------------- helpers
    @property
    def production(self) -> Deployment:
        return self.settings.production

    def user(self) -> str:
        return current_user(self.settings.env)

    def roles(self) -> Roles:
        return load_roles(self.settings.roles_file)

    def _act(self, action: str, name: str | None, permission: str,
             body: Callable[[str], tuple[Any, str | None, str]]) -> Any:
        """Check ``permission``, run ``body(user)`` -> (result, commit, detail), audit it."""
        user = self.user()
        roles = self.roles()
        held = roles.roles_of(user)
        what = f"sandbox {action}" + (f" {name}" if name else "")
        try:
            roles.require(user, permission, what)
        except AccessDenied as exc:
            self.audit.record(user, held, action, name, "refused", detail=str(exc))
            raise
        try:
            result, commit, detail = body(user)
        except Exception as exc:
            self.audit.record(user, held, action, name, "failed", detail=str(exc))
            raise
        self.audit.record(user, held, action, name, "ok", commit=commit, detail=detail)
        return result

    def _prod_repo(self, user: str) -> Repo:
        return Repo(self.production.tenant_dir, user)

    def _dir(self, name: str) -> Path:
        return self.settings.root / name

    def get(self, name: str) -> SandboxState:
        path = self._dir(name) / STATE_FILE
        if not path.is_file():
            known = ", ".join(s.name for s in self._states()) or "none"
            raise SandboxError(f"no sandbox named {name!r} under {self.settings.root} "
                               f"(sandboxes: {known})")
        return SandboxState(**json.loads(path.read_text(encoding="utf-8")))

    def _save(self, state: SandboxState) -> None:
        path = Path(state.directory) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def _states(self) -> list[SandboxState]:
        if not self.settings.root.is_dir():
            return []
        return [SandboxState(**json.loads(p.read_text(encoding="utf-8")))
                for p in sorted(self.settings.root.glob(f"*/{STATE_FILE}"))]

    def _free_port(self) -> int:
        used = {s.port for s in self._states()}
        port = FIRST_SANDBOX_PORT
        while port in used:
            port += 1
        return port

    # ---------------------------------------------------------------- create
    def create(self, name: str) -> SandboxState:
        def body(user: str):
            state = self._create(name, user)
            return state, state.base_commit, (f"branch {state.branch} of {state.base_branch}, "
                                              f"port {state.port}")

        return self._act("create", name, "change-config", body)

    def _ensure_production_repo(self, repo: Repo) -> None:
        tenant = self.production.tenant_dir
        top = repo.toplevel()
        if top is None:
            repo.init("Production tenant configuration (initialised by cdp sandbox create)")
            self.log(f"{tenant} was not a git repository: initialised one and committed the "
                     "current configuration as production's branch 'main'")
        elif top != tenant.resolve():
            raise SandboxError(
                f"the tenant directory {tenant} is inside the git repository {top}; sandboxes "
                "need the tenant directory to be a repository of its own: copy the tenant "
                "to its own directory and point CDP_TENANT_DIR at it")

    def _create(self, name: str, user: str) -> SandboxState:
        deployment = Deployment(lake_root=self.production.lake_root, sandbox=name)
        directory = self._dir(name)
        if directory.exists():
            raise SandboxError(f"sandbox {name!r} already exists at {directory}")
        tenant = self.production.tenant_dir
        if not (tenant / "tenant.yaml").is_file():
            raise SandboxError(f"{tenant} has no tenant.yaml: point CDP_TENANT_DIR at "
                               "production's tenant directory")
        root = self.settings.root
        if root == tenant or tenant in root.parents:
            raise SandboxError(f"the sandboxes root {root} is inside the tenant directory "
                               f"{tenant}: set CDP_SANDBOX_ROOT to a directory outside it")
        repo = self._prod_repo(user)
        self._ensure_production_repo(repo)
        dirty = repo.dirty_files()
        if dirty:
            raise SandboxError(f"production's tenant directory {tenant} has uncommitted "
                               f"changes ({', '.join(dirty)}): commit or discard them first, "
                               "so the sandbox starts from a known commit")
        state = SandboxState(
            name=name, owner=user,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            port=self._free_port(), branch=f"{BRANCH_PREFIX}{name}",
            base_branch=repo.branch(), base_commit=repo.head(),
            production_tenant_dir=str(tenant), lake_root=deployment.lake_root,
            directory=str(directory),
        )
        directory.mkdir(parents=True)
        try:
            repo.worktree_add(state.worktree, state.branch, state.base_branch)
            self._write_deployment_files(state)
            self._save(state)
        except Exception:
            repo.worktree_remove(state.worktree)
            repo.delete_branch(state.branch)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return state

    def _write_deployment_files(self, state: SandboxState) -> None:
        state.dagster_home.mkdir(parents=True, exist_ok=True)
        # The embedded instance's settings (run monitoring, concurrency pools) with storage
        # defaulting to SQLite under this DAGSTER_HOME: the sandbox's own runs, event log,
        # schedule state and pool slots, apart from production's.
        shutil.copyfile(PROJECT_DIR / "dagster.yaml", state.dagster_home / "dagster.yaml")
        state.workspace.write_text(
            f"# Dagster workspace of sandbox {state.name}. Start it with "
            f"`cdp sandbox ui {state.name}`,\n# which sets the environment in sandbox.env.\n"
            + yaml.safe_dump({"load_from": [{"python_module": {
                "module_name": "cdp_pipelines.definitions",
                "working_directory": str(PROJECT_DIR),
                "location_name": f"sandbox-{state.name}",
            }}]}, sort_keys=False), encoding="utf-8")
        (Path(state.directory) / "sandbox.env").write_text(
            "".join(f"export {k}={json.dumps(v)}\n" for k, v in state.environment().items()),
            encoding="utf-8")

    # ---------------------------------------------------------------- list
    def list(self) -> list[SandboxStatus]:
        user = self.user()
        self.roles().require(user, "watch", "sandbox list")
        out = []
        for state in self._states():
            wt = Repo(state.worktree, user)
            out.append(SandboxStatus(
                state=state,
                ahead=wt.count(f"{state.base_branch}..HEAD"),
                behind=wt.count(f"HEAD..{state.base_branch}"),
                uncommitted=wt.dirty_files(),
            ))
        return out

    # ---------------------------------------------------------------- pull
    def pull(self, name: str) -> SandboxState:
        def body(user: str):
            state = self.get(name)
            wt = Repo(state.worktree, user)
            wt.commit_all(f"sandbox {name}: changes by {user} before pulling production")
            production_head = self._prod_repo(user).rev(state.base_branch)
            wt.merge(state.base_branch, f"Pull production ({state.base_branch}) into "
                                        f"sandbox {name}")
            state.base_commit = production_head
            self._save(state)
            return state, wt.head(), f"production {state.base_branch}@{production_head[:12]}"

        return self._act("pull", name, "change-config", body)

    # ---------------------------------------------------------------- diff
    def diff(self, name: str, data: bool = True, spark=None) -> SandboxDiff:
        user = self.user()
        self.roles().require(user, "watch", f"sandbox diff {name}")
        state = self.get(name)
        prod = self._prod_repo(user)
        head = prod.rev(state.base_branch)
        wt = Repo(state.worktree, user)
        result = SandboxDiff(
            name=name,
            # Production -> sandbox: what promoting would change, if production stays put.
            config_diff=wt.diff(head), config_stat=wt.diff(head, stat=True),
            production_changed=head != state.base_commit or bool(prod.dirty_files()),
        )
        if data:
            from cdp_pipelines.sandbox.datadiff import diff_data, table_keys
            from cdp_pipelines.tenant import load_tenant

            keys = {**table_keys(load_tenant(self.production.tenant_dir, self.settings.env)),
                    **table_keys(load_tenant(state.worktree, self.settings.env))}
            if spark is None:
                from cdp_pipelines.resources.spark import build_spark_session

                spark = build_spark_session(self.production.spark_master, shuffle_partitions=4)
            result.data = diff_data(spark, self.production, state.deployment, keys)
        return result

    # ---------------------------------------------------------------- promote
    def promote(self, name: str, message: str, delete: bool = False) -> Promotion:
        if not message.strip():
            raise SandboxError("promote needs a message (-m) saying what the change is")

        def body(user: str):
            promotion = self._promote(name, message, user)
            return promotion, promotion.commit, f"{message.strip()}\n{promotion.files}".strip()

        promotion = self._act("promote", name, "promote", body)
        if delete:
            self.delete(name)
            promotion.deleted = True
        return promotion

    def _promote(self, name: str, message: str, user: str) -> Promotion:
        from cdp_pipelines.tenant import ConfigError, load_tenant

        state = self.get(name)
        prod = self._prod_repo(user)
        wt = Repo(state.worktree, user)
        wt.commit_all(f"sandbox {name}: changes by {user} before promotion")
        dirty = prod.dirty_files()
        if dirty:
            raise SandboxError(f"production's tenant directory has uncommitted changes "
                               f"({', '.join(dirty)}): commit them, then `cdp sandbox pull "
                               f"{name}`, then promote")
        if prod.branch() != state.base_branch:
            raise SandboxError(f"production's tenant directory has branch {prod.branch()!r} "
                               f"checked out, not {state.base_branch!r}")
        head = prod.head()
        if head != state.base_commit:
            raise SandboxError(
                f"production changed since sandbox {name} last pulled it (pulled "
                f"{state.base_commit[:12]}, production is now {head[:12]}): run `cdp sandbox "
                f"pull {name}`, check the result, then promote")
        try:
            load_tenant(state.worktree, self.settings.env)
        except ConfigError as exc:
            raise SandboxError(f"sandbox {name}'s configuration is invalid, not promoted: "
                               f"{exc}") from None
        if wt.count(f"{state.base_branch}..{state.branch}") == 0:
            raise SandboxError(f"sandbox {name} has no change to promote")
        files = wt.diff(head, stat=True).strip()
        commit = prod.merge(state.branch, f"{message.strip()}\n\nPromoted from sandbox {name} "
                                          f"by {user}", no_ff=True)
        # The sandbox follows production at once, so it can go on to a next change.
        wt.merge(state.base_branch, f"Pull production ({state.base_branch}) into sandbox {name}")
        state.base_commit = commit
        self._save(state)
        return Promotion(name=name, commit=commit, files=files, deleted=False)

    # ---------------------------------------------------------------- delete
    def delete(self, name: str) -> str:
        """Remove the sandbox's worktree, branch, deployment and lake prefix."""
        state = self.get(name)
        user = self.user()
        permission = "change-config" if user == state.owner else "delete-any-sandbox"

        def body(user: str):
            removed, commit = self._delete(state, user)
            return removed, commit, f"removed {removed}"

        return self._act("delete", name, permission, body)

    def _delete(self, state: SandboxState, user: str) -> tuple[str, str | None]:
        prefix = state.deployment.root
        branches = state.deployment.lake_root.rstrip("/") + "/branches/"
        # Never production's data: only a branches/<name> prefix of the lake.
        if not prefix.startswith(branches) or prefix[len(branches):] != state.name:
            raise SandboxError(f"refusing to delete {prefix}: not a sandbox prefix of the lake")
        prod = Repo(state.production_tenant_dir, user)
        try:
            commit: str | None = prod.rev(state.branch)
        except GitError:
            commit = None
        prod.worktree_remove(state.worktree)
        prod.delete_branch(state.branch)
        _remove_tree(prefix, self.production.spark_master)
        shutil.rmtree(state.directory)
        return prefix, commit

    # ---------------------------------------------------------------- ui
    def ui_command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The command and environment that start the sandbox's Dagster UI (audited)."""
        def body(user: str):
            state = self.get(name)
            _check_port_free(state.port)
            dagster = Path(sys.executable).with_name("dagster")
            argv = [str(dagster) if dagster.exists() else "dagster", "dev",
                    "-w", str(state.workspace), "-p", str(state.port)]
            env = {**self.settings.env, **state.environment()}
            return (argv, env), None, f"dagster dev on port {state.port}"

        return self._act("ui", name, "run", body)


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"port {port} is in use: is this sandbox's UI already "
                               "running?") from None


def _remove_tree(path: str, spark_master: str) -> None:
    if "://" not in path:
        shutil.rmtree(path, ignore_errors=True)
        return
    # Object stores: delete through Hadoop's FileSystem, which has the lake's credentials.
    from cdp_pipelines.resources.spark import build_spark_session

    spark = build_spark_session(spark_master, shuffle_partitions=1)
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path(path)
    jvm_path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(jvm_path, True)
