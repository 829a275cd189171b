"""Segment's and RudderStack's own Python libraries send to the collector; a load puts
every event in the domain tables once, blocked ones in failed events with their reasons,
and a second load finds nothing new."""

from __future__ import annotations

import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.events.journal import OPEN_SUFFIX
from cdp_pipelines.events.load import NOT_A_RECORD
from cdp_pipelines_tests.events.conftest import WEB_KEY

TABLES = [AssetKey(["domain", f"web_{k}"]) for k in ("events", "identifies", "aliases",
                                                      "failed_events")]


def _send_with_segment(url: str) -> tuple[set[str], list]:
    from segment.analytics import Client

    errors: list = []
    client = Client(write_key=WEB_KEY, host=url, upload_interval=0.05, on_error=
                    lambda error, batch: errors.append(error))
    sent = set()

    def keep(result):
        sent.add(result[1]["messageId"])

    for i in range(120):
        keep(client.track(anonymous_id=f"anon-{i % 10}", event="Product Viewed",
                          properties={"sku": f"SKU{i % 7}", "price": 10.0 + i}))
    keep(client.identify("user-1", {"email": "ann@example.com", "firstName": "Ann",
                                    "loyaltyId": "L-1"}, anonymous_id="anon-1"))
    keep(client.alias("anon-2", "user-1"))
    keep(client.page("user-1", name="Home", properties={"path": "/"}))
    blocked = client.track("user-1", "Product Viewed", {"price": "free"})[1]["messageId"]
    client.flush()
    client.shutdown()
    return sent, [errors, blocked]


def _send_with_rudderstack(url: str) -> set[str]:
    from rudderstack.analytics.client import Client

    errors: list = []
    client = Client(write_key=WEB_KEY, host=url, upload_interval=0.05,
                    on_error=lambda error, batch: errors.append(error))
    sent = {client.track("user-2", "Order Completed", {"order_id": f"o{i}", "revenue": 5.0})[1][
        "messageId"] for i in range(40)}
    # RudderStack sends identify traits in context.traits (gzipped, by default).
    sent.add(client.identify("user-2", {"email": "bob@example.com", "phone": "+1 206 555 0100"},
                             anonymous_id="anon-9")[1]["messageId"])
    client.flush()
    client.shutdown()
    assert errors == []
    return sent


def _wait_closed(landing: Path) -> None:
    deadline = time.monotonic() + 30
    while list(landing.glob(f"*{OPEN_SUFFIX}")) and time.monotonic() < deadline:
        time.sleep(0.1)


def _load(env: dict[str, str]):
    defs = build_definitions(env)
    result = materialize(list(defs.assets), resources=defs.resources, selection=TABLES,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    return {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}, result


def test_vendor_clients_events_arrive_once_in_the_domain_tables(collector, event_env, spark):
    # Before any event: empty tables, so that Stitch can read them.
    meta, _ = _load(event_env)
    assert {k: m["dagster/row_count"].value for k, m in meta.items()} == {
        f"domain/web_{kind}": 0 for kind in ("events", "identifies", "aliases", "failed_events")}

    segment_sent, (segment_errors, blocked) = _send_with_segment(collector.url)
    rudder_sent = _send_with_rudderstack(collector.url)
    assert segment_errors == []
    # A client that retries a batch whose acknowledgement it lost sends it again.
    duplicate = next(r for r in collector.records() if r["type"] == "alias")
    import requests
    assert requests.post(f"{collector.url}/v1/batch", auth=(WEB_KEY, ""), timeout=10,
                         json={"batch": [duplicate["message"]]}).status_code == 200
    _wait_closed(collector.landing)
    # Lines that are not collector records are quarantined with the reason.
    (collector.landing / "20260101T000000000000Z-foreign-000001.jsonl").write_text(
        'garbage\n{"messageId": null, "type": "track"}\n')

    meta, result = _load(event_env)
    lake = Path(event_env["CDP_LAKE_ROOT"]) / "prod" / "domain"
    events = spark.read.format("delta").load(str(lake / "web_events"))
    ids = [r["message_id"] for r in events.select("message_id").collect()]
    assert sorted(ids) == sorted((segment_sent | rudder_sent) - {blocked})
    assert meta["domain/web_events"]["duplicates"].value == 1

    [identify_1, identify_2] = spark.read.format("delta").load(
        str(lake / "web_identifies")).orderBy("user_id").collect()
    assert (identify_1["email"], identify_1["first_name"], identify_1["loyalty_id"],
            identify_1["anonymous_id"]) == ("ann@example.com", "Ann", "L-1", "anon-1")
    assert (identify_2["email"], identify_2["phone"]) == ("bob@example.com", "+1 206 555 0100")
    [alias] = spark.read.format("delta").load(str(lake / "web_aliases")).collect()
    assert (alias["previous_id"], alias["user_id"]) == ("anon-2", "user-1")

    [failed] = spark.read.format("delta").load(str(lake / "web_failed_events")).collect()
    assert (failed["message_id"], failed["action"]) == (blocked, "blocked")
    assert sorted(failed["rules"]) == ["required", "schema"]
    assert "properties.price must be number" in [v["reason"] for v in failed["violations"]]

    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "violation_rate" and check.passed
    assert meta["domain/web_events"]["preview"].value.count("\n") >= 3

    quarantined = spark.read.format("delta").load(str(lake / "_quarantine")).collect()
    assert sorted(r["record"] for r in quarantined) == [
        "garbage", '{"messageId": null, "type": "track"}']
    assert {(r["feed"], r["reason"]) for r in quarantined} == {("web_events", NOT_A_RECORD)}
    assert meta["domain/web_events"]["lines_quarantined"].value == 2

    again, _ = _load(event_env)
    assert again["domain/web_events"]["files_loaded"].value == 0
    assert events.count() == len(ids)

    # A sandbox loads production's landing files into its own tables only.
    prod = sorted((p, p.stat().st_mtime_ns) for p in lake.parent.rglob("*") if p.is_file())
    _load({**event_env, "CDP_SANDBOX": "trial"})
    branch = Path(event_env["CDP_LAKE_ROOT"]) / "branches" / "trial" / "domain"
    assert spark.read.format("delta").load(str(branch / "web_events")).count() == len(ids)
    assert sorted((p, p.stat().st_mtime_ns) for p in lake.parent.rglob("*")
                  if p.is_file()) == prod
