"""A production tenant (a copy of the tiny tenant), a lake and a sandboxes root per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cdp_pipelines.sandbox.lifecycle import Sandboxes, SandboxSettings
from cdp_pipelines_tests.conftest import TINY_TENANT

ROLES = """\
users:
  alice: [sandbox-admin]
  bob: [administrator]
  olga: [operator]
  ana: [analyst]
"""


@pytest.fixture
def prod_env(tmp_path: Path) -> dict[str, str]:
    tenant = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, tenant)
    (tmp_path / "roles.yaml").write_text(ROLES)
    return {**os.environ, "CDP_TENANT_DIR": str(tenant), "CDP_LAKE_ROOT": str(tmp_path / "lake"),
            "CDP_SANDBOX_ROOT": str(tmp_path / "sandboxes"),
            "CDP_ROLES_FILE": str(tmp_path / "roles.yaml"), "CDP_USER": "alice"}


def as_user(env: dict[str, str], user: str, log=None) -> Sandboxes:
    return Sandboxes(SandboxSettings.from_env({**env, "CDP_USER": user}), log=log)
