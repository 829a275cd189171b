"""The demo's production tenant: a git repository of its own, so sandboxes work on it.

Sandboxes branch production's tenant directory, which must be a repository of its own
with a roles file naming who may promote. The bundled demo tenant sits inside this
project's repository, so ``make demo`` runs the demo from a copy of it instead
(``.cdp/demo/tenant`` by default): its YAML and SQL files, committed on branch ``main``,
with ``roles.yaml`` naming the local user sandbox-admin. An existing copy is kept as it
is (promoted changes included); ``make clean`` starts afresh.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from cdp_pipelines.deployment import DEMO_TENANT_DIR
from cdp_pipelines.governance.roles import SANDBOX_ADMIN, load_roles
from cdp_pipelines.sandbox.gitrepo import Repo

ROLES_FILE = "roles.yaml"
# The package's own modules (the generator, reference data) are not tenant configuration.
_NOT_CONFIG = shutil.ignore_patterns("*.py", "__pycache__", "*.pyc")


class DemoRepoError(RuntimeError):
    """The demo's tenant repository cannot be set up; the message says what to do."""


@dataclass(frozen=True)
class DemoRepo:
    path: Path
    created: bool
    commit: str
    # Roles of ``user`` in the repository's roles file (empty: the user has none).
    roles: frozenset[str]


def init_demo_tenant(path: str | Path, user: str) -> DemoRepo:
    """Make ``path`` the demo's production tenant repository unless it already is one."""
    path = Path(path).expanduser().resolve()
    if not user.strip():
        raise DemoRepoError("no user to name in the demo's roles file: set CDP_USER")
    if (path / "tenant.yaml").is_file():
        repo = Repo(path, user)
        if repo.toplevel() != path:
            raise DemoRepoError(f"{path} holds a tenant but is not a git repository of its "
                                f"own: remove it (or run `make clean`) and run again")
        return DemoRepo(path, False, repo.head(),
                        load_roles(path / ROLES_FILE).roles_of(user))
    if path.exists() and any(path.iterdir()):
        raise DemoRepoError(f"{path} exists and is not a tenant directory: choose an empty "
                            "or new directory for the demo tenant")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its place and moved in whole: an interrupted run leaves no half repo.
    staging = Path(tempfile.mkdtemp(prefix=".demo-tenant-", dir=path.parent))
    try:
        work = staging / "tenant"
        shutil.copytree(DEMO_TENANT_DIR, work, ignore=_NOT_CONFIG)
        (work / ROLES_FILE).write_text(
            "# Who may do what with sandboxes of the demo (cdp_pipelines/governance/roles.py).\n"
            + yaml.safe_dump({"users": {user: [SANDBOX_ADMIN]}}, sort_keys=False),
            encoding="utf-8")
        commit = Repo(work, user).init("Demo tenant: production configuration "
                                       "(initialised by make demo)")
        if path.exists():
            path.rmdir()
        work.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DemoRepo(path, True, commit, frozenset({SANDBOX_ADMIN}))
