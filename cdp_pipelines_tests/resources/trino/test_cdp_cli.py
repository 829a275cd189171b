"""`cdp` as a user runs it (a child process): `cdp query` is an analyst unless told
otherwise, and every expected failure ends in a line or two on stderr naming what failed
and what to do, exit status 1, no traceback (unless --debug)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cdp_pipelines
from cdp_pipelines.resources import trino_auth
from cdp_pipelines_tests.conftest import free_port

REPO = Path(cdp_pipelines.__file__).resolve().parent.parent


@pytest.fixture
def cdp(trino_server, tmp_path):
    """Run ``cdp ARGS`` against the session Trino, with extra environment variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CDP_TRINO_")}

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        full = {**base, "PYTHONPATH": str(REPO), "CDP_TRINO_HOME": str(trino_server.home),
                "CDP_TRINO_PORT": str(trino_server.port), **env}
        return subprocess.run([sys.executable, "-m", "cdp_pipelines.cli", *args],
                              capture_output=True, text=True, env=full, cwd=tmp_path,
                              timeout=300)

    return run


def test_query_runs_as_analyst_unless_told_otherwise(cdp, customers):
    sql = f"SELECT name, email FROM {customers} ORDER BY 1"
    analyst = cdp("query", sql)
    assert analyst.returncode == 0, analyst.stderr
    assert "***" in analyst.stdout and "ada@example.com" not in analyst.stdout
    admin = cdp("query", sql, "--user", "admin")
    assert admin.returncode == 0, admin.stderr
    assert "ada@example.com" in admin.stdout


def _assert_clean_failure(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_trino_errors_are_one_line(cdp, customers):
    _assert_clean_failure(cdp("query", "SELEC 1"),
                          "cdp query failed", "'SELEC 1'", "mismatched input 'SELEC'")
    _assert_clean_failure(cdp("query", f"SELECT email FROM {customers}", "--user", "restricted"),
                          "user 'restricted'", "Access Denied")
    _assert_clean_failure(cdp("query", "SELECT * FROM delta.c360.no_such_table"),
                          "Table 'delta.c360.no_such_table' does not exist")


def test_connection_errors_say_what_to_do(cdp, tmp_path):
    _assert_clean_failure(cdp("query", "SELECT 1", CDP_TRINO_PORT=str(free_port())),
                          "not reachable", "cdp trino start")
    _assert_clean_failure(cdp("query", "SELECT 1", CDP_TRINO_PASSWORD="guess"),
                          "did not accept user 'analyst'", "Invalid credentials")
    _assert_clean_failure(cdp("query", "SELECT 1",
                              CDP_TRINO_PASSWORD_FILE=str(tmp_path / "missing")),
                          f"{tmp_path / 'missing'} does not exist")
    # Another server's certificate, not this one's.
    trino_auth.ensure_secrets(tmp_path / "elsewhere", users=())
    other_ca = trino_auth.ca_file(tmp_path / "elsewhere")
    _assert_clean_failure(cdp("query", "SELECT 1", CDP_TRINO_CA_FILE=str(other_ca)),
                          "certificate is not trusted", "CDP_TRINO_CA_FILE")


def test_other_subcommands_fail_cleanly(cdp, trino_server, tmp_path):
    no_tenant = {"CDP_TENANT_DIR": str(tmp_path / "no-tenant")}
    _assert_clean_failure(cdp("validate", **no_tenant), "no tenant.yaml")
    _assert_clean_failure(cdp("materialize", **no_tenant),
                          "cdp materialize failed", "no tenant.yaml")
    _assert_clean_failure(cdp("trino", "start", CDP_TRINO_HOME=str(tmp_path / "trino")),
                          "cdp trino start failed", f"Port {trino_server.port}",
                          "already in use")
    stand_ins = {"CDP_DEMO_SERVICES": str(tmp_path / "services"),
                 "CDP_DEMO_S3_PORT": str(free_port()), "CDP_DEMO_SFTP_PORT": str(free_port())}
    _assert_clean_failure(cdp("demo", "publish", "--drop", str(tmp_path / "drop"), **stand_ins),
                          "cdp demo publish failed", "not running", "cdp demo services start")


def test_debug_shows_the_traceback(cdp):
    for args in (("--debug", "query", "SELEC 1"), ("query", "SELEC 1", "--debug")):
        result = cdp(*args)
        assert result.returncode != 0
        assert "Traceback" in result.stderr and "TrinoResourceError" in result.stderr
