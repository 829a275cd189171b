"""The collector over real HTTP: auth, limits, gzip, reasons for bad bodies, the landing
records (times corrected for clock skew, the plan's verdict), and its OpenAPI document."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import requests

from cdp_pipelines_tests.events.conftest import BACKEND_KEY, WEB_KEY

AUTH = (WEB_KEY, "")


def _post(collector, path: str, body, auth=AUTH, **kwargs) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{collector.url}/v1/{path}", data=data, auth=auth, timeout=10,
                         headers={"Content-Type": "application/json",
                                  **kwargs.pop("headers", {})}, **kwargs)


def test_a_track_call_is_acknowledged_once_landed_with_skew_corrected_times(collector):
    now = datetime.now(timezone.utc)
    # The client's clock is an hour slow; the call was made 5 s before it was sent.
    sent = now - timedelta(hours=1)
    body = {"userId": 42, "event": "Product Viewed", "messageId": "m-1",
            "properties": {"sku": "A1", "price": 9.5},
            "originalTimestamp": (sent - timedelta(seconds=5)).isoformat(),
            "sentAt": sent.isoformat()}
    response = _post(collector, "track", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}

    [record] = collector.records()
    assert record["messageId"] == "m-1" and record["type"] == "track"
    assert record["userId"] == "42" and record["writeKey"] == "browser"
    assert record["status"] == "accepted" and record["violations"] == []
    received = datetime.fromisoformat(record["receivedAt"])
    timestamp = datetime.fromisoformat(record["timestamp"])
    assert abs((received - timestamp) - timedelta(seconds=5)) < timedelta(milliseconds=2)
    assert abs(received - now) < timedelta(seconds=30)
    assert record["message"]["properties"] == {"sku": "A1", "price": 9.5}


def test_write_keys_come_from_basic_auth_or_the_body_and_are_never_landed(collector):
    body = {"anonymousId": "a-1", "event": "Signed Up", "writeKey": BACKEND_KEY}
    assert _post(collector, "track", body, auth=None).status_code == 200
    missing = _post(collector, "track", {"anonymousId": "a", "event": "Signed Up"}, auth=None)
    assert missing.status_code == 401 and "write key" in missing.json()["message"]
    wrong = _post(collector, "track", {"anonymousId": "a", "event": "Signed Up"},
                  auth=("nope", ""))
    assert wrong.status_code == 401 and wrong.json()["message"] == "unknown write key"
    [record] = collector.records()
    assert record["writeKey"] == "backend"
    assert BACKEND_KEY not in json.dumps(record) and WEB_KEY not in json.dumps(record)


def test_bad_bodies_get_400_with_a_reason_and_nothing_is_written(collector):
    cases = {
        b"{not json": "not valid JSON",
        b"[1, 2]": "must be a JSON object",
        b'{"batch": []}': "batch: List should have at least 1 item",
        b'{"batch": [{"type": "track", "event": "Signed Up"}]}':
            "batch[0]: userId or anonymousId is required",
        b'{"batch": [{"type": "shout", "userId": "u"}]}': "batch[0]",
        b'{"batch": [{"type": "track", "userId": "u", "event": "x", '
        b'"timestamp": "yesterday"}]}': "batch[0].timestamp",
        b'{"batch": [{"type": "alias", "userId": "u"}]}': "batch[0].previousId: Field required",
        b'{"batch": [{"type": "track", "userId": "u", "event": "x", "n": NaN}]}': "NaN",
    }
    for body, reason in cases.items():
        response = _post(collector, "batch", body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "bad_request"
        assert reason in response.json()["message"], (body, response.json())
    wrong_path = _post(collector, "identify", {"type": "track", "userId": "u", "event": "x"})
    assert wrong_path.status_code == 400 and "/v1/track" in wrong_path.json()["message"]
    assert collector.records() == []


def test_gzip_bodies_are_read_and_size_limits_hold(collector):
    batch = {"batch": [{"type": "identify", "userId": "u1", "traits": {"email": "a@b.co"}}]}
    zipped = gzip.compress(json.dumps(batch).encode())
    ok = _post(collector, "batch", zipped, headers={"Content-Encoding": "gzip"})
    assert ok.status_code == 200, ok.text
    broken = _post(collector, "batch", zipped[:-8], headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and "truncated" in broken.json()["message"]
    assert _post(collector, "batch", b"x", headers={"Content-Encoding": "br"}).status_code == 415

    bomb = gzip.compress(b" " * (2 << 20))  # 2 MiB of spaces in a few KiB
    assert _post(collector, "batch", bomb, headers={"Content-Encoding": "gzip"}).status_code == 413
    too_big = {"batch": [{"type": "track", "userId": "u", "event": "Signed Up",
                          "properties": {"blob": "x" * 600_000}}]}
    assert _post(collector, "batch", too_big).status_code == 413
    one_big = {"batch": [{"type": "track", "userId": "u", "event": "Signed Up",
                          "properties": {"blob": "x" * 40_000}}]}
    response = _post(collector, "batch", one_big)
    assert response.status_code == 413 and "batch[0]" in response.json()["message"]
    assert [r["userId"] for r in collector.records()] == ["u1"]


def test_the_tracking_plan_blocks_violations_with_rule_and_reason(collector):
    batch = {"batch": [
        {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "ok",
         "properties": {"sku": "A1"}},
        {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "bad",
         "properties": {"price": -1, "colour": "red"}},
        {"type": "track", "userId": "u", "event": "Mystery", "messageId": "unplanned"},
        {"type": "page", "userId": "u", "name": "Home", "messageId": "page"},
    ]}
    assert _post(collector, "batch", batch).status_code == 200
    records = {r["messageId"]: r for r in collector.records()}
    assert {k: r["status"] for k, r in records.items()} == {
        "ok": "accepted", "bad": "blocked", "unplanned": "blocked", "page": "accepted"}
    assert sorted((v["rule"], v["path"]) for v in records["bad"]["violations"]) == [
        ("required", "properties"), ("schema", "properties.price"),
        ("unplanned_property", "properties.colour")]
    reasons = {v["path"]: v["reason"] for v in records["bad"]["violations"]}
    assert reasons["properties.price"] == "properties.price must be bigger than or equal to 0"
    assert records["unplanned"]["violations"][0]["rule"] == "unplanned_event"


def test_the_openapi_document_is_served(collector):
    document = requests.get(f"{collector.url}/openapi.json", timeout=10).json()
    assert {f"/v1/{k}" for k in ("track", "identify", "page", "screen", "group", "alias",
                                 "batch")} <= set(document["paths"])
    batch = document["paths"]["/v1/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Batch"}
    assert {"200", "400", "401", "413"} <= set(batch["responses"])
    assert document["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"
    assert "TrackCall" in document["components"]["schemas"]
