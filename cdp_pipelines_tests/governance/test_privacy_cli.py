"""`cdp privacy request` as an operator runs it (a child process, the real CLI): a valid
request lands in the requests table; a malformed one exits non-zero with its reason on
one line, no traceback, and lands no request (only its rejection, which keeps no value)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cdp_pipelines
from cdp_pipelines_tests.conftest import tiny_privacy_tenant

REPO = Path(cdp_pipelines.__file__).resolve().parent.parent


def test_cdp_privacy_request_lands_a_request_or_refuses_it_with_the_reason(tmp_path,
                                                                          spark) -> None:
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CDP_LAKE_ROOT": str(lake),
           "CDP_TENANT_DIR": str(tiny_privacy_tenant(tmp_path / "tenant")),
           "CDP_TEST_DROP": str(tmp_path / "drop"),
           "CDP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}

    def cdp(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cdp_pipelines.cli", "privacy",
                               "request", *args], capture_output=True, text=True, env=env,
                              timeout=300)

    ok = cdp("--id", "r-cli", "--type", "delete", "--strategy", "connected",
             "--received", "2026-11-20", "--identifier", "email=Zed@Shopmail.net",
             "--identifier", "loyalty_id=L9")
    assert ok.returncode == 0, ok.stderr
    assert "privacy request r-cli (delete, connected) received" in ok.stdout

    # Each run starts Spark (the rejection is kept too): one malformed request is enough
    # here; the other reasons are test_privacy_config's.
    refused = cdp("--id", "r-typo", "--type", "erase", "--identifier", "email=amy@x-mail.net")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    # The reason is the last line (Spark's start-up notes come before it).
    assert refused.stderr.strip().splitlines()[-1] == (
        "privacy request r-typo refused: type must be one of ['dsar', 'delete', "
        "'delete_pii'], got 'erase'")
    assert "amy@" not in refused.stderr + refused.stdout

    tables = lake / "prod" / "_system" / "privacy"
    [stored] = spark.read.format("delta").load(str(tables / "requests")).collect()
    assert (stored["request_id"], stored["type"], stored["strategy"], stored["status"]) == (
        "r-cli", "delete", "connected", "received")
    assert json.loads(stored["identifiers"]) == {"email": "Zed@Shopmail.net",
                                                 "loyalty_id": "L9"}
    rejected = {r["request_id"]: r for r in spark.read.format("delta").load(
        str(tables / "rejected")).collect()}
    assert sorted(rejected) == ["r-typo"]
    assert "amy@" not in json.dumps(rejected["r-typo"].asDict(), default=str)
    audit = (tmp_path / "audit.jsonl").read_text()
    assert audit.count("privacy.request.rejected") == 1 and "amy@" not in audit
