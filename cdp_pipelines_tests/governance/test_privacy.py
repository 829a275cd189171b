"""Privacy requests end to end on the tiny tenant with the tiny_privacy overlay, through
Dagster, on one lake shared by the module: materialized once (ingest and Stitch's
preprocess; Customer 360; the privacy group), then once more for each scenario that needs
its own run (files sent again; a failed step). Every test asserts on that lake.

Stitch's Splink run is replaced by a hand-made ``unified_coalesced`` (the clusters are
the test's input here; Stitch itself is tested in cdp_pipelines_tests/stitch): Robert
Smith's club record m1 has another email than his shop records and is linked to them only
by Stitch's amperity_id; so is Eve Stone's club record m4, which her ``exact`` request
does not name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines_tests.conftest import tiny_privacy_tenant

CUSTOMERS = "\n".join([
    "customer_id,First Name,Last Name,email,birthdate,points,updated_at",
    "s1,Robert,Smith,bob.smith@mail.com,03/04/1980,1,2026-11-01 09:00:00",
    "s2,Bob,Smith,BOB.SMITH@MAIL.COM ,03/04/1980,2,2026-11-01 09:00:00",
    "s3,Alice,Jones,alice.j@mail.com,07/08/1990,3,2026-11-01 09:00:00",
    "s4,Carl,King,carl@king.com,01/01/1970,4,2026-11-01 09:00:00",
    "s5,Bob,Smith,bob.smith@mail.com,not-a-date,5,2026-11-01 09:00:00",  # quarantined
    "s6,Alice,Jones,alice.j@mail.com,not-a-date,6,2026-11-01 09:00:00",  # quarantined
    "s7,Eve,Stone,eve@stonemail.com,02/02/1985,7,2026-11-01 09:00:00",
]) + "\n"
MEMBERS = "\n".join([
    "member_id|full_name|email|loyalty_number",
    "m1|Robert Smith|rob@work.example|L1",
    "m2|Alice Jones|alice.j@mail.com|L2",
    "m3|Dana Fox|dana@fox.com|L3",
    "m4|Eve Stone|eve.s@othermail.com|L4",
]) + "\n"
ORDERS = "\n".join(json.dumps(o) for o in [
    {"order_id": "o1", "customer_id": "s1", "order_date": "2026-10-01", "total": "10.00"},
    {"order_id": "o2", "customer_id": "s3", "order_date": "2026-10-02", "total": "20.00"},
    {"order_id": "o3", "customer_id": "s4", "order_date": "2026-10-03", "total": "30.00"},
]) + "\n"
REQUESTS = [
    {"request_id": "r-pii", "type": "delete_pii", "strategy": "exact",
     "email": "Alice.J@mail.com", "received": "2026-11-20"},
    {"request_id": "r-access", "type": "dsar", "email": "carl@king.com",
     "received": "2026-11-20"},
    {"request_id": "r-bad", "type": "erase", "email": "dana@fox.com", "received": "2026-11-20"},
    {"request_id": "r-none", "type": "delete", "received": "2026-11-20"},
    {"request_id": "r-eve", "type": "delete", "strategy": "exact", "email": "eve@stonemail.com",
     "received": "2026-11-20"},
]
# A closed landing file of the `web` event source (collector records), as the collector
# writes it. Privacy scrubs the raw files kept for replay; of its lines only Alice's
# blocked message (her email in its context's traits) loads, into web_failed_events.
EVENTS = "\n".join(json.dumps(e) for e in [
    {"messageId": "e-bob", "type": "identify", "userId": "u-bob", "receivedAt":
     "2026-11-01T09:00:00Z", "message": json.dumps({"traits": {"email": "bob.smith@mail.com"}})},
    {"messageId": "e-dana", "type": "track", "event": "Product Viewed", "userId": "u-dana",
     "receivedAt": "2026-11-01T09:01:00Z", "message": json.dumps({"properties": {"sku": "x"}})},
    {"messageId": "e-alice", "type": "track", "event": "Signed Up", "userId": "u-alice",
     "receivedAt": "2026-11-01T09:01:30Z", "status": "blocked", "violations": [
         {"rule": "unplanned_event", "path": "event", "reason": "not in the tracking plan"}],
     "message": json.dumps({"properties": {"plan": "gold"}, "context": {
         "traits": {"email": "alice.j@mail.com"}, "ip": "10.1.2.3"}})},
]) + "\n"
EVENT_FILE = "landing/events/web/20261101T090200000000Z-w1-1.jsonl"


def _accepted(message_id: str, kind: str, message: dict, **ids) -> dict:
    return {"messageId": message_id, "type": kind, "writeKey": "browser", "status": "accepted",
            "receivedAt": "2026-11-25T10:00:00Z", "timestamp": "2026-11-25T10:00:00Z",
            "violations": [], "message": json.dumps(message), **ids}


# The same people's events sent again after the deletion (collector records that load).
RESENT_EVENTS = "\n".join(json.dumps(e) for e in [
    _accepted("e-bob-2", "identify", {"traits": {"email": " Bob.Smith@Mail.com"}},
              userId="u-bob"),
    _accepted("e-dana-2", "track", {"event": "Product Viewed", "properties": {"sku": "y"}},
              userId="u-dana", event="Product Viewed"),
]) + "\n"
RESENT_EVENT_FILE = "landing/events/web/20261125T100000000000Z-w1-2.jsonl"
WEB = [["domain", f"web_{kind}"] for kind in ("events", "identifies", "aliases",
                                               "failed_events")]
CLUSTERS = {"A": ["shop_customers:s1", "shop_customers:s2", "club_members:m1"],
            "B": ["shop_customers:s3", "club_members:m2"],
            "C": ["shop_customers:s4"], "D": ["club_members:m3"],
            "E": ["shop_customers:s7", "club_members:m4"]}
BOB = ("bob.smith@mail.com", "rob@work.example")
SOURCES = [["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
           ["landing", "shop", "shop_orders"], ["domain", "shop_customers"],
           ["domain", "club_members"], ["domain", "shop_orders"],
           ["domain", "customer_order_totals"]]
# One Customer 360 table is enough to see privacy change it and the failed step leave it.
MERGED = ["c360", "c360", "merged_customers"]
PRIVACY = [["privacy", "privacy_requests"], ["privacy", "unified_compliance"]]
REQUEST_FILE = "landing/privacy/privacy_portal/privacy/requests_1.jsonl"


def _run(defs, keys, raise_on_error=True):
    return materialize(list(defs.assets), resources=defs.resources,
                       selection=AssetSelection.assets(*keys),
                       instance=DagsterInstance.ephemeral(), raise_on_error=raise_on_error)


def _write_coalesced(spark, lake: Path) -> None:
    from pyspark.sql import functions as F

    pre = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_preprocessed_raw")
    ids = spark.createDataFrame([(rid, aid) for aid, rids in CLUSTERS.items() for rid in rids],
                                "record_id string, amperity_id string")
    coalesced = pre.withColumn("record_id", F.concat_ws(":", "source", "pk")).join(
        ids, "record_id").select(
        "amperity_id", "record_id", "source", "source_system", "pk",
        F.col("given_name_norm").alias("given_name"), F.col("surname_norm").alias("surname"),
        F.col("full_name_norm").alias("full_name"), F.col("email_norm").alias("email"),
        F.col("phone_e164").alias("phone"), F.col("address_norm").alias("address"),
        F.col("address2_norm").alias("address2"), F.col("city_norm").alias("city"),
        F.col("state_norm").alias("state"), F.col("postal_norm").alias("postal"),
        F.col("country_norm").alias("country"), F.col("birthdate_norm").alias("birthdate"),
        F.col("gender_norm").alias("gender"), F.col("loyalty_id_norm").alias("loyalty_id"),
        F.lit(False).alias("supersized"), "_updated")
    coalesced.write.format("delta").mode("overwrite").save(f"{lake}/prod/stitch/unified_coalesced")


def _tables(lake: Path) -> list[Path]:
    return sorted(p.parent for p in (lake / "prod").rglob("_delta_log"))


def _holding(spark, lake: Path, values) -> dict[str, int]:
    """Delta tables (current version) any column of which mentions one of ``values``."""
    from pyspark.sql import functions as F

    out = {}
    for path in _tables(lake):
        df = spark.read.format("delta").load(str(path))
        text = F.lower(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])))
        hit = None
        for v in values:
            one = F.instr(text, v.lower()) > 0
            hit = one if hit is None else hit | one
        n = df.where(hit).count()
        if n:
            out[str(path.relative_to(lake))] = n
    return out


def _files_holding(root: Path, values) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and any(
        v.lower() in p.read_bytes().decode("utf-8", "replace").lower() for v in values)]


def _count(spark, lake: Path, table: str, where: str = "true") -> int:
    return spark.read.format("delta").load(f"{lake}/prod/{table}").where(where).count()


def _rows(spark, lake: Path, table: str, key: str) -> dict:
    return {r[key]: r.asDict() for r in spark.read.format("delta").load(
        f"{lake}/prod/{table}").collect()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, spark):
    tmp = tmp_path_factory.mktemp("privacy")
    drop, lake = tmp / "drop", tmp / "lake"
    tenant = tiny_privacy_tenant(tmp / "tenant")
    for name, text in (("shop/customers_20261101.csv", CUSTOMERS),
                       ("club/members_1.psv", MEMBERS),
                       ("shop/orders_20261101.jsonl", ORDERS),
                       ("privacy/requests_1.jsonl",
                        "".join(json.dumps(r) + "\n" for r in REQUESTS))):
        (drop / name).parent.mkdir(parents=True, exist_ok=True)
        (drop / name).write_text(text)
    env = {**os.environ, "CDP_LAKE_ROOT": str(lake), "CDP_TENANT_DIR": str(tenant),
           "CDP_TEST_DROP": str(drop), "CDP_AUDIT_LOG": str(tmp / "audit.jsonl")}
    # Runs audit through the process's environment: set for this module only (later
    # modules read their own audit logs).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AUDIT_LOG", env["CDP_AUDIT_LOG"])
        yield _build_world(spark, env, tmp, drop, lake, tenant)


def _build_world(spark, env: dict, tmp: Path, drop: Path, lake: Path, tenant: Path) -> dict:
    from cdp_pipelines.governance.privacy.requests import store_requests
    from cdp_pipelines.tenant import load_tenant

    defs = build_definitions(env)
    events = lake / "prod" / EVENT_FILE
    events.parent.mkdir(parents=True)
    events.write_text(EVENTS)
    _run(defs, SOURCES + WEB + [["stitch", "unified_preprocessed_raw"]])
    _write_coalesced(spark, lake)
    _run(defs, [MERGED])
    before = {t: _count(spark, lake, t) for t in (
        "domain/shop_customers", "domain/club_members", "domain/shop_orders",
        "stitch/unified_coalesced", "c360/c360/merged_customers", "domain/_quarantine")}
    merged_before = _rows(spark, lake, "c360/c360/merged_customers", "amperity_id")
    # `cdp privacy request` stores a request this way.
    lake_resource = defs.resources["lake"]
    spec = load_tenant(tenant, env).privacy
    store_requests(lake_resource, [("cli", {
        "request_id": "r-bob", "type": "delete", "strategy": "connected",
        "email": "bob.smith@mail.com", "received": "2026-11-21"})], spec)
    result = _run(defs, [["landing", "privacy", "privacy_portal"], *PRIVACY])
    return {"defs": defs, "lake": lake, "drop": drop, "tmp": tmp, "before": before,
            "merged_before": merged_before, "tenant": tenant, "result": result,
            "lake_resource": lake_resource, "spec": spec}


def _meta(result, key: list[str]) -> dict:
    return result.asset_materializations_for_node("__".join(key))[0].metadata


def test_malformed_requests_are_refused_with_their_reason(world) -> None:
    rejected = _meta(world["result"], ["privacy", "privacy_requests"])["requests_rejected"].value
    assert any("requests_1.jsonl:3" in r and "type must be one of" in r for r in rejected)
    assert any("requests_1.jsonl:4" in r and "no identifier" in r for r in rejected)
    assert len(rejected) == 2
    overview = _meta(world["result"], ["privacy", "unified_compliance"])["overview"].value
    assert "r-bad" not in overview and "r-bob" in overview


def test_request_files_keep_only_ids_statuses_and_hashes_once_applied(world) -> None:
    landed = world["lake"] / "prod" / REQUEST_FILE
    lines = [json.loads(line) for line in landed.read_text().splitlines()]
    assert [(r["request_id"], r["status"]) for r in lines] == [
        ("r-pii", "applied"), ("r-access", "applied"), ("r-bad", "rejected"),
        ("r-none", "rejected"), ("r-eve", "applied")]
    assert _files_holding(landed.parent, ["alice", "carl@", "dana@", "eve@"]) == []
    assert len(json.loads(lines[0]["identifiers_hashed"])["email"]) == 64


def test_a_delete_leaves_nothing_of_the_person_anywhere(world, spark) -> None:
    lake, drop = world["lake"], world["drop"]
    assert _holding(spark, lake, BOB) == {}
    assert _files_holding(lake / "prod" / "landing", BOB) == []
    # The event source's raw file keeps the other people's messages.
    events = (lake / "prod" / EVENT_FILE).read_text().splitlines()
    assert [json.loads(e)["messageId"] for e in events] == ["e-dana"]
    statuses = _meta(world["result"], ["privacy", "unified_compliance"])["requests_by_status"]
    assert statuses.value == {"applied": 4}
    # Everyone else's rows are all still there, unchanged where no request names them.
    before = world["before"]
    assert _count(spark, lake, "domain/shop_customers") == before["domain/shop_customers"] - 3
    assert _count(spark, lake, "domain/club_members") == before["domain/club_members"] - 1
    assert _count(spark, lake, "domain/shop_orders") == before["domain/shop_orders"] - 1
    assert _count(spark, lake, "stitch/unified_coalesced") == \
        before["stitch/unified_coalesced"] - 4
    merged = _rows(spark, lake, "c360/c360/merged_customers", "amperity_id")
    assert sorted(merged) == ["B", "C", "D", "E"]
    assert {k: merged[k] for k in "CD"} == {k: world["merged_before"][k] for k in "CD"}
    assert _count(spark, lake, "domain/_quarantine") == before["domain/_quarantine"] - 1
    # Old versions are vacuumed (retention 0 in the test tenant): time travel finds nothing.
    old = spark.read.format("delta").option("versionAsOf", 0).load(
        f"{lake}/prod/domain/shop_customers")
    with pytest.raises(Exception):
        old.where("customer_id = 's1'").count()
    assert (drop / "shop" / "customers_20261101.csv").read_text() == CUSTOMERS


def test_an_exact_delete_keeps_the_customer_stitch_links_to_other_records(world, spark) -> None:
    lake = world["lake"]
    assert _count(spark, lake, "domain/shop_customers", "customer_id = 's7'") == 0
    assert _count(spark, lake, "domain/club_members", "member_id = 'm4'") == 1
    assert _count(spark, lake, "stitch/unified_coalesced", "amperity_id = 'E'") == 1
    # Eve's customer row stays (her club record is still held) without its PII, until
    # Customer 360 builds it again from that record.
    eve = _rows(spark, lake, "c360/c360/merged_customers", "amperity_id")["E"]
    assert world["merged_before"]["E"]["given_name"] == "eve"
    assert eve["email"] is None and eve["given_name"] is None


def test_connected_catches_the_record_only_stitch_links(world, spark) -> None:
    lake = world["lake"]
    assert _count(spark, lake, "domain/club_members", "member_id = 'm1'") == 0
    compliance = spark.read.format("delta").load(
        f"{lake}/prod/_system/privacy/unified_compliance").where("request_id = 'r-bob'")
    categories = {(r["table"], r["match_category"]) for r in compliance.collect()}
    assert ("domain/club_members", "connected") in categories
    assert ("domain/shop_customers", "direct") in categories
    assert ("domain/shop_orders", "source key") in categories


def test_delete_pii_keeps_the_records_with_pii_nulled(world, spark) -> None:
    lake = world["lake"]
    alice = spark.read.format("delta").load(f"{lake}/prod/domain/shop_customers").where(
        "customer_id = 's3'").collect()
    assert len(alice) == 1
    assert alice[0]["email"] is None and alice[0]["first_name"] is None
    assert alice[0]["birthdate"] is None and alice[0]["points"] == 3
    member = spark.read.format("delta").load(f"{lake}/prod/domain/club_members").where(
        "member_id = 'm2'").collect()[0]
    assert member["email"] is None and member["loyalty_number"] == "L2"
    # Her quarantined row stays, with the PII fields of its raw record nulled.
    [quarantined] = spark.read.format("delta").load(f"{lake}/prod/domain/_quarantine").where(
        "record LIKE '%\"s6\"%'").collect()
    record = json.loads(quarantined["record"])
    assert record["customer_id"] == "s6" and record["points"] == "6"
    assert record["email"] is None and record["First Name"] is None
    assert record["birthdate"] is None and "not-a-date" not in quarantined["reason"]
    assert "field birthdate: cannot read (value removed) as date" in quarantined["reason"]
    assert _files_holding(lake / "prod" / "landing" / "shop", ["alice.j@mail.com"]) == []


def test_delete_pii_keeps_a_failed_event_without_its_raw_message(world, spark) -> None:
    lake = world["lake"]
    [failed] = spark.read.format("delta").load(f"{lake}/prod/domain/web_failed_events").where(
        "message_id = 'e-alice'").collect()
    # The row keeps its place in the tracking plan's figures; the message is gone.
    assert (failed["action"], failed["event"], failed["rules"]) == (
        "blocked", "Signed Up", ["unplanned_event"])
    assert failed["record"] is None
    assert "alice.j@" not in json.dumps(failed.asDict(), default=str).lower()
    compliance = spark.read.format("delta").load(
        f"{lake}/prod/_system/privacy/unified_compliance").where(
        "request_id = 'r-pii' AND table = 'domain/web_failed_events'").collect()
    assert [(r["records_matched"], r["action"]) for r in compliance] == [
        (1, "null 1 PII column(s)")]


def test_dsar_writes_every_record_of_the_person(world) -> None:
    report = json.loads((world["drop"] / "dsar" / "r-access.json").read_text())
    assert report["customer_ids"] == ["C"]
    customers = report["sources"]["domain"]["shop_customers"]
    assert [r["customer_id"] for r in customers] == ["s4"]
    assert [r["order_id"] for r in report["sources"]["domain"]["shop_orders"]] == ["o3"]
    [merged] = report["sources"]["c360"]["c360/merged_customers"]
    assert merged["amperity_id"] == "C"


def test_requests_and_actions_are_audited_and_identifiers_kept_hashed(world, spark) -> None:
    events = [json.loads(line) for line in
              (world["tmp"] / "audit.jsonl").read_text().splitlines()]
    actions = {(e["action"], e["outcome"]) for e in events}
    assert ("privacy.delete.apply", "ok") in actions
    assert ("privacy.request.rejected", "refused") in actions
    assert not any(v in json.dumps(events) for v in BOB)
    stored = spark.read.format("delta").load(
        f"{world['lake']}/prod/_system/privacy/requests").where("request_id = 'r-bob'").first()
    assert "bob" not in stored["identifiers"] and len(json.loads(stored["identifiers"])["email"]) == 64


@pytest.fixture(scope="module")
def resent(world):
    """The source sends the original members file again (the courier lands it: a new
    name), the web shop's collector gets Bob's and Dana's events again, and the request
    file is still there as sent: one run lands and loads them."""
    lake, drop = world["lake"], world["drop"]
    (drop / "club" / "members_2.psv").write_text(MEMBERS)
    (lake / "prod" / RESENT_EVENT_FILE).write_text(RESENT_EVENTS)
    return _run(world["defs"], [SOURCES[1], SOURCES[4], ["landing", "privacy", "privacy_portal"],
                                *WEB])


def test_a_deleted_persons_resent_event_is_not_loaded(world, resent, spark) -> None:
    lake = world["lake"]
    [meta] = [m.metadata for m in resent.asset_materializations_for_node("events_web")
              if m.asset_key.path == WEB[0]]
    # Bob's identify is his by the email in its traits (written otherwise), hashed.
    assert meta["messages_suppressed"].value == 1
    assert meta["rows_inserted"].value == 1
    loaded = {r["message_id"] for r in spark.read.format("delta").load(
        f"{lake}/prod/domain/web_events").collect()}
    assert loaded == {"e-dana-2"}
    assert _count(spark, lake, "domain/web_identifies") == 0


def test_resent_files_do_not_bring_the_person_back(world, resent, spark) -> None:
    lake, defs = world["lake"], world["defs"]
    result = resent
    request_dir = (lake / "prod" / REQUEST_FILE).parent
    assert _files_holding(request_dir, ["alice", "carl@", "dana@"]) == []
    assert _holding(spark, lake, BOB) == {}
    meta = _meta(result, ["domain", "club_members"])
    # m1 is Bob's only through Stitch: suppressed by its record key, not by a value.
    assert meta["rows_suppressed"].value == 1 and meta["rows_pii_nulled"].value == 1
    # Rows read count the suppressed one too: all four lines of the file.
    [logged] = spark.read.format("delta").load(f"{lake}/prod/_system/ingest_log").where(
        "file LIKE '%members_2.psv'").collect()
    assert (logged["rows"], logged["rows_quarantined"]) == (4, 0)
    assert _count(spark, lake, "domain/club_members", "member_id = 'm2' AND email IS NULL") == 1
    assert _count(spark, lake, "domain/club_members", "member_id = 'm3'") == 1
    # The new raw files hold the person until the next privacy run scrubs them; the
    # scrubbed members_1.psv, still in the source as sent, is not landed again.
    assert sorted(Path(p).name for p in _files_holding(lake / "prod" / "landing", BOB)) == \
        [Path(RESENT_EVENT_FILE).name, "members_2.psv"]
    scrub = _run(defs, PRIVACY)
    assert _files_holding(lake / "prod" / "landing", BOB) == []
    assert _files_holding(lake / "prod" / "landing" / "club", ["alice.j@mail.com"]) == []
    assert sorted(_meta(scrub, ["privacy", "unified_compliance"])["files_rewritten"].value) \
        == ["landing/club/club_members/club/members_2.psv", RESENT_EVENT_FILE]
    # The scrubbed request lines are neither requests again nor rejected again.
    requests = _meta(scrub, ["privacy", "privacy_requests"])
    assert requests["requests_new"].value == 0 and requests["requests_rejected"].value == []


def test_a_failed_privacy_step_leaves_customer_360_as_published(world, spark) -> None:
    from cdp_pipelines.governance.privacy.requests import store_requests

    lake, defs = world["lake"], world["defs"]
    merged = f"{lake}/prod/c360/c360/merged_customers"
    version = spark.sql(f"DESCRIBE HISTORY delta.`{merged}`").first()["version"]
    store_requests(world["lake_resource"], [("cli", {
        "request_id": "r-dana", "type": "delete", "email": "dana@fox.com",
        "received": "2026-11-22"})], world["spec"])
    # Break the step: Stitch's records are gone, so requests cannot be matched.
    pre = lake / "prod" / "stitch" / "unified_preprocessed_raw"
    shutil.move(pre, lake / "moved_away")
    try:
        result = _run(defs, [*PRIVACY, MERGED], raise_on_error=False)
    finally:
        shutil.move(lake / "moved_away", pre)
    assert not result.success
    assert result.asset_materializations_for_node("c360__c360__merged_customers") == []
    assert spark.sql(f"DESCRIBE HISTORY delta.`{merged}`").first()["version"] == version
    status = spark.read.format("delta").load(f"{lake}/prod/_system/privacy/requests").where(
        "request_id = 'r-dana'").first()
    assert status["status"] == "failed" and "Stitch" in status["detail"]
    assert _count(spark, lake, "domain/club_members", "member_id = 'm3'") == 1


def test_destinations_are_sent_a_deletion_file_through_their_transport(world, tmp_path) -> None:
    import hashlib
    from datetime import date

    from cdp_pipelines.governance.privacy.matching import Match
    from cdp_pipelines.governance.privacy.notify import notify_destinations
    from cdp_pipelines.governance.privacy.requests import PrivacyRequest
    from cdp_pipelines.tenant import load_tenant
    from cdp_pipelines.tenant.delivery import DestinationSpec
    from cdp_pipelines.tenant.privacy import PrivacySpec

    config = load_tenant(world["tenant"], {**os.environ, "CDP_TEST_DROP": str(world["drop"])})
    crm = DestinationSpec(name="crm", type="local", options={"root": str(tmp_path)},
                          format="csv", filename="deletions_{date:%Y%m%d}{ext}")
    config = config.model_copy(update={
        "destinations": {"crm": crm},
        "privacy": PrivacySpec(salt_env="CDP_TEST_PRIVACY_SALT", notify_destinations=("crm",))})
    request = PrivacyRequest("r-x", "delete", "exact", {"email": "Zed@Shopmail.net"},
                             date(2026, 11, 20), "cli")
    match = Match(request, amperity_ids={"Z"}, identifiers={("email", "Zed@Shopmail.net")})
    sent = notify_destinations(world["lake_resource"], config, [match], date(2026, 11, 30))
    assert sent["crm"].startswith("sent: 1 row(s)")
    text = (tmp_path / "deletions_20261130.csv").read_text()
    assert "r-x" in text and ",Z," in text and "zed" not in text.lower()
    assert hashlib.sha256(b"zed@shopmail.net").hexdigest() in text
    again = notify_destinations(world["lake_resource"], config, [match], date(2026, 11, 30))
    assert again["crm"].startswith("skipped")
