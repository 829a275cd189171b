"""Identity: a browser that later identifies, and one aliased to the user, join the
customer Stitch finds in the file sources, and their events carry its amperity_id."""

from __future__ import annotations

import time
from pathlib import Path

import requests
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.events.journal import OPEN_SUFFIX
from cdp_pipelines_tests.events.conftest import WEB_KEY
from cdp_pipelines_tests.stitch.test_assets import CUSTOMERS, MEMBERS


def _view(anonymous: str, n: int, user: str | None = None) -> dict:
    return {"type": "track", "event": "Product Viewed", "anonymousId": anonymous,
            "userId": user, "messageId": f"{anonymous}-{n}", "properties": {"sku": f"S{n}"}}


BATCH = [
    _view("anon-9", 1), _view("anon-9", 2),            # browsing before signing up
    {"type": "identify", "anonymousId": "anon-9", "userId": "web-u1", "messageId": "id-1",
     "traits": {"email": "bob.smith@mail.com", "firstName": "Robert", "lastName": "Smith"}},
    _view("anon-9", 3, user="web-u1"),
    _view("anon-8", 1),                                # a second device ...
    {"type": "alias", "previousId": "anon-8", "userId": "web-u1", "messageId": "alias-1"},
    _view("anon-7", 1),                                # a browser that never identifies
]


def test_identified_browsers_join_the_customer(collector, event_env, tmp_path: Path, spark):
    response = requests.post(f"{collector.url}/v1/batch", json={"batch": BATCH},
                             auth=(WEB_KEY, ""), timeout=10)
    assert response.status_code == 200, response.text
    while list(collector.landing.glob(f"*{OPEN_SUFFIX}")):
        time.sleep(0.1)
    drop = tmp_path / "drop"
    for folder, name, text in (("shop", "customers_20261101.csv", CUSTOMERS),
                               ("club", "members_1.psv", MEMBERS)):
        (drop / folder).mkdir(parents=True)
        (drop / folder / name).write_text(text)
    env = {**event_env, "CDP_TEST_DROP": str(drop)}
    defs = build_definitions(env)
    selection = (AssetSelection.assets(["stitch", "unified_events"]).upstream()
                 .required_multi_asset_neighbors())
    result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                         instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success

    lake = Path(env["CDP_LAKE_ROOT"]) / "prod" / "stitch"
    coalesced = spark.read.format("delta").load(str(lake / "unified_coalesced")).collect()
    customer = {r["amperity_id"] for r in coalesced if r["pk"] in ("s1", "id-1", "alias-1")}
    assert len(customer) == 1, "the identify and the alias joined Bob's file records"
    [bob] = customer
    assert {r["pk"] for r in coalesced if r["amperity_id"] == bob} == {
        "s1", "s2", "m1", "id-1", "alias-1"}

    events = {r["message_id"]: r["amperity_id"] for r in spark.read.format("delta").load(
        str(lake / "unified_events")).collect()}
    assert {k: v for k, v in events.items() if v == bob}.keys() == {
        "anon-9-1", "anon-9-2", "anon-9-3", "id-1", "anon-8-1", "alias-1"}
    assert events["anon-7-1"] is None
