"""Issue 19, item 1: events on a lake on object storage. The collector journals to a local
spool and ships each closed file to the lake's ``landing/events/<source>/`` on moto (in
server mode); the event source's asset loads them from the bucket into Delta tables on the
bucket. What landed is read back with boto3, and events are sent with Segment's own
library: no part of the path is only our own code talking to itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.deployment import DeploymentError, get_deployment
from cdp_pipelines.events.collector import RollPolicy, create_app
from cdp_pipelines.events.journal import CLOSED_SUFFIX, closed_files
from cdp_pipelines.events.server import build_collector
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.conftest import free_port
from cdp_pipelines_tests.events.conftest import WEB_KEY, ThreadedServer, wait_until
from cdp_pipelines_tests.events.test_end_to_end import TABLES

KEY_ID, SECRET = "events-test-key-id", "events-test-secret-value"
PREFIX = "acme"
LANDING = f"{PREFIX}/prod/landing/events/web/"


@pytest.fixture
def s3_env(s3_endpoint, event_tenant: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The standard AWS variables for moto (this test only), and the deployment's: a lake
    on a bucket of the test's own (``bucket`` is created by the test when it wants it)."""
    import boto3

    for name, value in (("AWS_ENDPOINT_URL_S3", s3_endpoint), ("AWS_ACCESS_KEY_ID", KEY_ID),
                        ("AWS_SECRET_ACCESS_KEY", SECRET), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"cdp-events-{tmp_path.name.lower().replace('_', '-')[-30:]}"
    env = {**os.environ, "CDP_LAKE_ROOT": f"s3a://{bucket}/{PREFIX}",
           "CDP_TENANT_DIR": str(event_tenant), "CDP_COLLECT_SPOOL": str(tmp_path / "spool")}
    env.pop("CDP_SANDBOX", None)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    return env, client, bucket


def _collector(env: dict[str, str]):
    deployment = get_deployment(env)
    config = load_tenant(deployment.tenant_dir, env=env)
    collector = build_collector(deployment, config, RollPolicy(max_seconds=0.5))
    collector.shippers["web"].interval = 0.5
    return collector


def _send(url: str, count: int, tag: str) -> set[str]:
    """Events sent with Segment's library; returns their ids, all acknowledged."""
    from segment.analytics import Client

    errors: list = []
    client = Client(write_key=WEB_KEY, host=url, upload_interval=0.05, max_retries=0,
                    on_error=lambda error, batch: errors.append(error))
    sent = {client.track(anonymous_id=f"{tag}-{i % 5}", event="Product Viewed",
                         properties={"sku": f"SKU{i}", "price": 1.0 + i})[1]["messageId"]
            for i in range(count)}
    client.flush()
    client.shutdown()
    assert errors == []
    return sent


def _landed(client, bucket: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                 Prefix=LANDING):
        for entry in page.get("Contents", []):
            if entry["Key"].endswith("/"):
                continue  # the empty "directory" object pyarrow keeps for a prefix
            out[entry["Key"][len(LANDING):]] = client.get_object(
                Bucket=bucket, Key=entry["Key"])["Body"].read()
    return out


def _message_ids(objects: dict[str, bytes]) -> list[str]:
    return [json.loads(line)["messageId"] for data in objects.values()
            for line in data.splitlines() if line]


def test_a_collector_on_an_object_store_lake_without_a_spool_says_what_to_set(s3_env):
    env, _, _ = s3_env
    env.pop("CDP_COLLECT_SPOOL")
    with pytest.raises(DeploymentError, match="set CDP_COLLECT_SPOOL .* a local directory"):
        _collector(env)
    with pytest.raises(DeploymentError, match="must be a local directory"):
        _collector({**env, "CDP_COLLECT_SPOOL": "s3a://elsewhere/spool"})


def test_events_are_shipped_to_the_s3_lake_and_loaded_from_it(s3_env, spark):
    env, client, bucket = s3_env
    client.create_bucket(Bucket=bucket)
    spool = Path(env["CDP_COLLECT_SPOOL"]) / "web"
    port = free_port()
    with ThreadedServer(create_app(_collector(env)), port):
        sent = _send(f"http://127.0.0.1:{port}", 60, "a")
        wait_until(lambda: not list(spool.iterdir()), "the spool to empty")
    landed = _landed(client, bucket)
    # Closed files only, each whole, every acknowledged event once; no staging object left.
    assert landed and all(name.endswith(CLOSED_SUFFIX) and not name.startswith(".")
                          for name in landed)
    assert sorted(_message_ids(landed)) == sorted(sent)

    # The source's asset loads them from the bucket into its tables on the bucket.
    defs = build_definitions(env)
    result = materialize(list(defs.assets), resources=defs.resources, selection=TABLES,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    events = spark.read.format("delta").load(f"{env['CDP_LAKE_ROOT']}/prod/domain/web_events")
    assert sorted(r["message_id"] for r in events.select("message_id").collect()) == \
        sorted(sent)
    log = spark.read.format("delta").load(f"{env['CDP_LAKE_ROOT']}/prod/_system/ingest_log")
    assert {r["file"] for r in log.collect()} == set(landed)
    for event in result.get_asset_materialization_events():
        assert SECRET not in repr(event.materialization.metadata)


def test_events_wait_in_the_spool_while_the_lake_refuses_and_none_is_lost(s3_env):
    env, client, bucket = s3_env  # the bucket does not exist yet: every put fails
    spool = Path(env["CDP_COLLECT_SPOOL"]) / "web"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ThreadedServer(create_app(_collector(env)), port):
        first = _send(url, 30, "a")  # acknowledged: journaled and synced in the spool
        wait_until(lambda: closed_files(spool), "a closed file")
        health = requests.get(f"{url}/health", timeout=10).json()
        assert health["unshipped_files"]["web"] >= 1
    # Stopped with the lake still refusing: everything acknowledged is still in the spool.
    waiting = closed_files(spool)
    assert sorted(json.loads(line)["messageId"] for p in waiting
                  for line in p.read_bytes().splitlines()) == sorted(first)

    # The next start ships what waits, and retries (backing off) until the bucket is there.
    with ThreadedServer(create_app(_collector(env)), port):
        second = _send(url, 20, "b")
        client.create_bucket(Bucket=bucket)
        wait_until(lambda: not list(spool.iterdir()), "the spool to empty")
        assert requests.get(f"{url}/health", timeout=10).json()["unshipped_files"] == {"web": 0}
    landed = _landed(client, bucket)
    assert sorted(_message_ids(landed)) == sorted(first | second)
    assert {p.name for p in waiting} <= set(landed)


def test_events_are_shipped_to_an_azure_lake(azurite, event_tenant: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch):
    """Azurite, like an account without hierarchical namespace, has no rename: the staged
    upload is copied to its name and deleted. Read back with Azure's own SDK."""
    from azure.storage.blob import BlobServiceClient

    from cdp_pipelines_tests import servers

    monkeypatch.setenv("AZURE_STORAGE_KEY", servers.AZURITE_KEY)
    monkeypatch.setenv("CDP_AZURE_BLOB_ENDPOINT", azurite.blob_endpoint.rsplit("/", 1)[0])
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    blobs.create_container("events-lake")
    env = {**os.environ, "CDP_TENANT_DIR": str(event_tenant),
           "CDP_LAKE_ROOT": f"abfs://events-lake@{servers.AZURITE_ACCOUNT}.dfs.core.windows.net"
                            f"/{PREFIX}", "CDP_COLLECT_SPOOL": str(tmp_path / "spool")}
    env.pop("CDP_SANDBOX", None)
    spool = tmp_path / "spool" / "web"
    port = free_port()
    with ThreadedServer(create_app(_collector(env)), port):
        sent = _send(f"http://127.0.0.1:{port}", 25, "z")
        wait_until(lambda: not list(spool.iterdir()), "the spool to empty")
    container = blobs.get_container_client("events-lake")
    landed = {b.name[len(LANDING):]: container.download_blob(b.name).readall()
              for b in container.list_blobs(name_starts_with=LANDING)}
    landed = {name: data for name, data in landed.items() if name}  # not the prefix marker
    assert landed and all(name.endswith(CLOSED_SUFFIX) and not name.startswith(".")
                          for name in landed), sorted(landed)
    assert sorted(_message_ids(landed)) == sorted(sent)


def test_sigkill_of_the_cli_collector_loses_no_event_bound_for_the_s3_lake(s3_env, tmp_path):
    """`cdp collect serve --spool`, killed while Segment's library sends: on restart the
    file the dead process left open is closed and shipped with the rest; the bucket ends
    with every event the library sent (the retried ones possibly twice, one message id)."""
    from cdp_pipelines_tests.events.test_crash import sigkill_while_sending

    env, client, bucket = s3_env
    client.create_bucket(Bucket=bucket)
    spool = Path(env.pop("CDP_COLLECT_SPOOL"))
    sent = [f"m-{i:05d}" for i in range(1500)]
    sigkill_while_sending(
        env, free_port(), tmp_path / "collector.log", sent,
        until=lambda: any(p.stat().st_size for p in (spool / "web").glob("*.jsonl*")),
        journal=spool / "web", serve=["--spool", str(spool)], threads=2)
    assert not list((spool / "web").iterdir()), "left in the spool"
    assert set(_message_ids(_landed(client, bucket))) == set(sent)
