"""The audit log on a lake kept on S3 (moto in server mode): one object per event under
production's ``_system/audit/events/``, never overwritten, read back in time order; what
is stored is checked with boto3, a client this project did not write."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.governance.audit import AuditError, AuditLog, audit_log_path
from cdp_pipelines.resources.lake_files import ObjectPath

BUCKET = "cdp-test"
PREFIX = "audit-lake"


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3

    for name, value in (("AWS_ENDPOINT_URL_S3", s3_endpoint), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def _keys(client) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_the_audit_log_of_an_s3_lake_is_one_object_per_event(s3) -> None:
    production = Deployment(lake_root=f"s3a://{BUCKET}/{PREFIX}")
    path = audit_log_path(production)
    assert isinstance(path, ObjectPath)
    assert str(path) == f"s3a://{BUCKET}/{PREFIX}/prod/_system/audit/events"
    log = AuditLog(path)
    assert list(log.events()) == []

    first = log.record("alice", ["engineer"], "create", "trial", commit="abc")
    # Eight writers at once: every event is kept, none overwrites another.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: log.record(f"user{i}", ["admin"], "promote", "trial"),
                      range(8)))
    keys = _keys(s3)
    assert len(keys) == 9 and all(k.startswith(f"{PREFIX}/prod/_system/audit/events/")
                                  for k in keys)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    assert stored["user"] == "alice" and stored["commit"] == "abc"

    events = list(AuditLog(audit_log_path(production)).events())
    assert events[0] == first
    assert sorted(e.user for e in events[1:]) == [f"user{i}" for i in range(8)]
    assert [e.time for e in events] == sorted(e.time for e in events)

    # A stray object in the folder is named in the error, not skipped.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/prod/_system/audit/events/zz-bad.json",
                  Body=b"not json")
    with pytest.raises(AuditError, match="zz-bad.json: not an audit event"):
        list(log.events())


def test_a_local_lake_keeps_its_json_lines_file(tmp_path) -> None:
    production = Deployment(lake_root=str(tmp_path / "lake"))
    path = audit_log_path(production)
    assert path == tmp_path / "lake" / "prod" / "_system" / "audit" / "audit_log.jsonl"
    AuditLog(path).record("bob", ["analyst"], "create", "x")
    assert [json.loads(line)["user"] for line in path.read_text().splitlines()] == ["bob"]
