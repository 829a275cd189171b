"""The demo tenant's web source: the generator's traffic for its own people, sent to the
collector, keeps to the tracking plan; browsers that sign up identify with the person's
email, and some are aliased from a second device."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cdp_pipelines.deployment import DEMO_TENANT_DIR, get_deployment
from cdp_pipelines.events.collector import create_app
from cdp_pipelines.events.server import build_collector, landing_directory
from cdp_pipelines.examples.demo_tenant import web_traffic
from cdp_pipelines.examples.demo_tenant.generator import generate
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.conftest import free_port
from cdp_pipelines_tests.events.conftest import ThreadedServer, read_records


def test_demo_traffic_keeps_to_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(web_traffic.WRITE_KEY_ENV, "demo-key")
    counts = generate(tmp_path / "demo", people=120, days=2)
    env = {"CDP_LAKE_ROOT": str(tmp_path / "lake"), "CDP_TENANT_DIR": str(DEMO_TENANT_DIR),
           "CDP_DEMO_DROP": str(tmp_path / "demo" / "drop")}
    deployment = get_deployment(env)
    collector = build_collector(deployment, load_tenant(DEMO_TENANT_DIR, env=env))
    port = free_port()
    with ThreadedServer(create_app(collector), port):
        sent = web_traffic.send(tmp_path / "demo", f"http://127.0.0.1:{port}", "demo-key")
    assert sent == counts["web_messages"] > 0

    records = read_records(landing_directory(deployment, "web"))
    assert len(records) == sent == len({r["messageId"] for r in records})
    assert [r for r in records if r["violations"] or r["status"] != "accepted"] == []
    with (tmp_path / "demo" / "web_truth.csv").open() as fh:
        truth = {row["user_id"]: row["person_id"] for row in csv.DictReader(fh)}
    identified = {r["userId"] for r in records if r["type"] == "identify"}
    assert identified == set(truth)
    # Each signed-up browser was anonymous first: its earlier visits carry no userId.
    first_visits = {}
    for r in sorted(records, key=lambda r: r["originalTimestamp"]):
        first_visits.setdefault(r["anonymousId"], r)
    assert any(r["userId"] is None for r in first_visits.values())
    aliases = [r for r in records if r["type"] == "alias"]
    assert aliases and all(r["userId"] in truth for r in aliases)
    # The traffic is sent, not fetched: no courier's drop holds it.
    assert not (tmp_path / "demo" / "drop" / "web").exists()
