"""Tracking plans: loaded from tenant files with errors naming file and field, and the
verdict each `on_violation` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_pipelines.events.plans import SourcePlan
from cdp_pipelines.tenant import ConfigError, load_tenant


def _source(event_tenant: Path, **update):
    spec = load_tenant(event_tenant).event_source("web")
    return spec.model_copy(update=update)


def _track(event: str, **properties) -> dict:
    return {"type": "track", "event": event, "userId": "u", "properties": properties}


def test_the_plan_loads_into_the_tenant(event_tenant):
    config = load_tenant(event_tenant)
    [web] = config.event_sources
    assert web.name == "web" and web.on_violation == "block"
    assert [e.name for e in web.events] == ["Product Viewed", "Order Completed", "Signed Up"]
    assert web.tables == ["web_events", "web_identifies", "web_aliases", "web_failed_events"]
    assert ("loyaltyId", "loyalty_id", "loyalty-id") in web.identify_columns
    assert {"email", "first_name", "traits"} <= config.pii_fields


@pytest.mark.parametrize("text, message", [
    ("write_keys: [{name: k, key: secret}]",
     "events/web.yaml: write_keys[0].key: Extra inputs are not permitted"),
    ("write_keys: [{name: k, key_env: A, key_file: /b}]",
     "events/web.yaml: write_keys[0]: Value error, write key k: give exactly one of"),
    ("write_keys: [{name: k, key_env: A}]\non_violation: drop",
     "events/web.yaml: on_violation: Input should be 'block', 'omit' or 'allow'"),
    ("write_keys: [{name: k, key_env: A}]\nevents: [{name: X, properties: {type: array}}]",
     "events/web.yaml: events[0].properties: Value error, the schema must describe an object"),
    ("write_keys: [{name: k, key_env: A}]\nevents: [{name: X, properties: {properties: {x: {type: thing}}}}]",
     "events/web.yaml: events[0].properties: Value error, not a valid JSON Schema"),
    ("write_keys: [{name: k, key_env: A}]\nidentify: {tags: {email: email}}",
     "events/web.yaml: identify.tags: Value error, ['email'] are Segment's reserved traits"),
    ("name: web\nwrite_keys: [{name: k, key_env: A}]",
     "events/web.yaml: name: an event source is named by its file"),
])
def test_plan_errors_name_the_file_and_field(event_tenant, text, message):
    (event_tenant / "events" / "web.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_tenant(event_tenant)
    assert message in str(error.value)


def test_event_tables_may_not_take_a_domain_table_name(event_tenant):
    (event_tenant / "domain" / "web_aliases.sql").write_text("SELECT 1 AS x\n")
    with pytest.raises(ConfigError, match=r"events/web.yaml: \(table web_aliases of event "
                                          r"source web\): name 'web_aliases' is already used "
                                          r"by domain/web_aliases.sql"):
        load_tenant(event_tenant)


def test_block_sends_the_whole_event_away_with_every_violation(event_tenant):
    plan = SourcePlan(_source(event_tenant))
    verdict = plan.verdict(_track("Product Viewed", price="free", colour="red"))
    assert verdict.blocked
    assert [(v.rule, v.path) for v in verdict.violations] == [
        ("unplanned_property", "properties.colour"), ("required", "properties"),
        ("schema", "properties.price")]
    assert not plan.verdict(_track("Product Viewed", sku="A")).violations


def test_omit_removes_unplanned_and_invalid_properties_and_keeps_them(event_tenant):
    plan = SourcePlan(_source(event_tenant, on_violation="omit"))
    verdict = plan.verdict(_track("Product Viewed", sku="A", price=-3, colour="red"))
    assert not verdict.blocked
    assert verdict.message["properties"] == {"sku": "A"}
    assert verdict.omitted == {"properties": {"price": -3, "colour": "red"}}
    # What omission cannot repair passes, flagged.
    missing = plan.verdict(_track("Order Completed", revenue=3))
    assert not missing.blocked and missing.omitted is None
    assert [v.rule for v in missing.violations] == ["required"]


def test_allow_passes_unchanged_and_flags(event_tenant):
    plan = SourcePlan(_source(event_tenant, on_violation="allow"))
    message = {"type": "identify", "userId": "u", "traits": {"email": "nope", "vip": True}}
    verdict = plan.verdict(message)
    assert not verdict.blocked and verdict.message == message
    assert {(v.rule, v.path) for v in verdict.violations} == {
        ("schema", "traits.email"), ("unplanned_property", "traits.vip")}


def test_unplanned_events_pass_unflagged_when_the_source_allows_them(event_tenant):
    strict = SourcePlan(_source(event_tenant))
    assert strict.verdict(_track("Mystery")).blocked
    relaxed = SourcePlan(_source(event_tenant, allow_unplanned_events=True))
    assert relaxed.verdict(_track("Mystery")).violations == ()
    # Calls the plan does not cover are not checked.
    assert not strict.verdict({"type": "page", "userId": "u", "properties": {"x": 1}}).blocked


def test_whole_object_rules_are_checked_too(event_tenant):
    spec = _source(event_tenant)
    event = spec.events[0].model_copy(update={"properties": {
        "type": "object", "properties": {"sku": {"type": "string"}, "gift": {"type": "boolean"}},
        "dependentRequired": {"gift": ["sku"]}, "minProperties": 1}})
    plan = SourcePlan(spec.model_copy(update={"events": (event,)}))
    [violation] = plan.verdict(_track("Product Viewed")).violations
    assert violation.rule == "schema" and violation.path == "properties"
