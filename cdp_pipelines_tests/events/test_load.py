"""Loading landing files straight into the domain tables: deduplication across loads."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.events.load import DEDUP_WINDOW, _dedup_window, load_events
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.tenant import load_tenant


def _record(message_id: str, received_at: str, event: str = "Product Viewed") -> dict:
    return {"messageId": message_id, "type": "track", "event": event, "userId": "u-1",
            "anonymousId": None, "writeKey": "web", "receivedAt": received_at,
            "sentAt": received_at, "originalTimestamp": received_at, "timestamp": received_at,
            "status": "accepted", "violations": [],
            "message": {"type": "track", "event": event, "properties": {"sku": "A-1"}}}


def _land(landing: Path, name: str, records: list[dict]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_repeat_in_a_later_load_is_stored_once(event_tenant: Path, tmp_path: Path, spark):
    source = load_tenant(event_tenant).event_source("web")
    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"),
                                    Deployment(lake_root=str(tmp_path / "lake")))
    landing = tmp_path / "landing"
    _land(landing, "20261101T100000000000Z-a-000001.jsonl",
          [_record("m-1", "2026-11-01T10:00:00.000Z"), _record("m-2", "2026-11-01T10:00:01.000Z")])
    first = load_events(lake, source, landing, "run-1")
    assert first.inserted["events"] == 2

    # A client's retry two days later (inside the window), with a new message.
    _land(landing, "20261103T100000000000Z-a-000002.jsonl",
          [_record("m-2", "2026-11-03T10:00:00.000Z"), _record("m-3", "2026-11-03T10:00:01.000Z")])
    second = load_events(lake, source, landing, "run-2")
    assert second.files == ["20261103T100000000000Z-a-000002.jsonl"]
    assert second.inserted["events"] == 1
    rows = {r["message_id"]: r["received_at"].isoformat() for r in
            lake.read("domain", source.table("events")).collect()}
    assert sorted(rows) == ["m-1", "m-2", "m-3"]
    # The first copy is the one kept.
    assert rows["m-2"].startswith("2026-11-01T10:00:01")

    # Nothing is read twice: a third load with no new file inserts nothing.
    assert load_events(lake, source, landing, "run-3").files == []


def test_the_dedup_window_reaches_back_from_the_earliest_message():
    assert DEDUP_WINDOW.days == 7
    condition = _dedup_window(["2026-11-03 10:00:00", None, "2026-11-02 09:30:00"])
    assert condition == ("t.received_at >= TIMESTAMP'2026-10-26 09:30:00' "
                         "OR t.received_at IS NULL")
    assert _dedup_window([None]) is None


def test_the_follower_compacts_its_tables_once_due(event_tenant: Path, tmp_path: Path, spark):
    from delta.tables import DeltaTable

    from cdp_pipelines.events.follow import Follower

    source = load_tenant(event_tenant).event_source("web")
    deployment = Deployment(lake_root=str(tmp_path / "lake"))
    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"), deployment)
    follower = Follower(deployment, [source], lake, compact_every=3600)
    landing = follower.landing(source)
    for day in (1, 2, 3):
        _land(landing, f"202611{day:02d}T100000000000Z-a-00000{day}.jsonl",
              [_record(f"m-{day}", f"2026-11-{day:02d}T10:00:00.000Z")])
        assert follower.load_once(source) == 1
    path = lake.path("domain", source.table("events"))

    def files() -> int:
        return DeltaTable.forPath(spark, path).detail().collect()[0]["numFiles"]

    before = files()
    assert before >= 3
    assert not follower.compact_if_due(source)  # not an hour yet
    assert follower.compact_if_due(source, now=time.monotonic() + 3601)
    assert files() == 1 and follower.stats.compactions == 1
    assert sorted(r["message_id"] for r in lake.read("domain", source.table("events"))
                  .collect()) == ["m-1", "m-2", "m-3"]
    # No load since: nothing to compact, however long it has been.
    assert not follower.compact_if_due(source, now=time.monotonic() + 7200)


def test_a_suppressed_identifier_anywhere_in_a_message_finds_it(event_tenant: Path,
                                                                tmp_path: Path, spark):
    from cdp_pipelines.events.load import read_records, record_identifiers
    from cdp_pipelines.governance.privacy.suppression import (
        SUPPRESSION_SCHEMA,
        digest,
        hash_identifier,
        salt,
        suppressed_keys,
    )
    from cdp_pipelines.tenant.privacy import PrivacySpec

    source = load_tenant(event_tenant).event_source("web")
    spec = PrivacySpec(salt_env="CDP_TEST_PRIVACY_SALT", match_keys=("loyalty-id",))
    secret = salt(spec)
    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"),
                                    Deployment(lake_root=str(tmp_path / "lake")))
    landing = tmp_path / "landing"

    def message(mid: str, kind: str = "track", body: dict | None = None, **ids) -> dict:
        return {**_record(mid, "2026-11-01T10:00:00.000Z"), "type": kind, "userId": None,
                "message": body or {}, **ids}

    _land(landing, "20261101T100000000000Z-a-000001.jsonl", [
        message("by-user", userId="u-gone"),
        message("by-previous", "alias", previousId="anon-gone", userId="u-new"),
        message("by-context", body={"context": {"traits": {"phone": "+1 (415) 555-0100"}}}),
        message("by-trait", "identify", {"traits": {"loyaltyId": " l-77 "}}, userId="u-9"),
        message("by-record", "identify", {"traits": {}}, userId="u-8"),
        message("blanked", "identify", {"traits": {"email": "Pii@Shopmail.net"}}, userId="u-7"),
        message("kept", "identify", {"traits": {"email": "kept@shopmail.net"}},
                userId="u-kept", anonymousId="anon-kept"),
    ])
    records = read_records(lake, sorted(landing.iterdir()))
    identifiers = record_identifiers(source, spec.match_keys)
    # No suppression table yet: nothing is looked up.
    assert suppressed_keys(lake, records, "messageId", identifiers, spec) == {}
    lake.append(lake.session.createDataFrame([(*row, None) for row in [
        ("user_id", hash_identifier(secret, "user_id", "u-gone"), "r1", "delete"),
        ("anonymous_id", hash_identifier(secret, "anonymous_id", "anon-gone"), "r1", "delete"),
        ("phone", hash_identifier(secret, "phone", "415-555-0100"), "r1", "delete"),
        ("loyalty_id", hash_identifier(secret, "loyalty_id", "L-77"), "r1", "delete"),
        ("record", digest(secret, "record", "web_identifies|by-record"), "r1", "delete"),
        ("email", hash_identifier(secret, "email", "pii@shopmail.net"), "r2", "delete_pii"),
    ]], SUPPRESSION_SCHEMA), "_system", "privacy", "suppression")
    assert suppressed_keys(lake, records, "messageId", identifiers, spec) == {
        "by-user": "delete", "by-previous": "delete", "by-context": "delete",
        "by-trait": "delete", "by-record": "delete", "blanked": "delete_pii"}
