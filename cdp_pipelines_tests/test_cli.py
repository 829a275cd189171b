"""`cdp validate`, `cdp materialize` and `cdp stitch` as a user runs them (a child
process): a named secret that does not exist is a one-line error before any run, naming
the variable and the destination, never printing a value; no traceback. And the mode
`cdp stitch` asks its run for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cdp_pipelines
from cdp_pipelines.cli import build_parser, stitch_run_tags
from cdp_pipelines.keys import STITCH_MODE_TAG
from cdp_pipelines_tests.conftest import TINY_TENANT

REPO = Path(cdp_pipelines.__file__).resolve().parent.parent


def _cdp(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "cdp_pipelines.cli", *args],
                          capture_output=True, text=True, env=full, timeout=300)


def test_a_missing_secret_stops_validate_materialize_and_stitch_before_any_run(
        tmp_path) -> None:
    tenant = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, tenant)
    (tenant / "activation").mkdir()
    (tenant / "activation" / "destinations.yaml").write_text(
        "destinations:\n  - {name: api, type: rest, path: /m, options: "
        "{base_url: 'https://x.invalid', token_env: CDP_TEST_MISSING_TOKEN}}\n")
    env = {"CDP_TENANT_DIR": str(tenant), "CDP_TEST_DROP": str(tmp_path / "drop"),
           "CDP_LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path / "home"),
           "CDP_TEST_MISSING_TOKEN": ""}
    (tmp_path / "home").mkdir()
    for command in (["validate"], ["materialize"], ["stitch", "--full"]):
        result = _cdp(*command, **env)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) <= 2 and "Traceback" not in result.stderr
        assert "destination api: environment variable CDP_TEST_MISSING_TOKEN" in lines[-1]
    assert not (tmp_path / "lake").exists()  # nothing ran

    ok = _cdp("validate", **{**env, "CDP_TEST_MISSING_TOKEN": "tok-3f9a"})
    assert ok.returncode == 0 and "OK" in ok.stdout and "tok-3f9a" not in ok.stdout + ok.stderr


def test_cdp_stitch_asks_its_run_for_the_mode_given() -> None:
    parse = build_parser().parse_args
    assert stitch_run_tags(parse(["stitch", "--full"])) == {STITCH_MODE_TAG: "full"}
    assert stitch_run_tags(parse(["stitch", "--incremental"])) == {
        STITCH_MODE_TAG: "incremental"}
    # No tag: stitch.yaml's mode decides, as for a scheduled run.
    assert stitch_run_tags(parse(["stitch"])) == {}
    with pytest.raises(SystemExit):
        parse(["stitch", "--full", "--incremental"])
