"""Names every layer shares: asset keys, asset groups and run tags.

A leaf module: it imports nothing from the project, so any layer may import it without
creating a cycle. Keys take plain names (strings), not config objects, for the same reason.
"""

from __future__ import annotations

import json

from dagster import AssetKey

# Asset groups, left to right through the platform.
SOURCES_GROUP = "sources"
DOMAIN_GROUP = "domain"
STITCH_GROUP = "stitch"
C360_GROUP = "c360"
ACTIVATION_GROUP = "activation"
DELIVERIES_GROUP = "deliveries"
# Privacy requests, applied after Stitch and before Customer 360 is built and published.
PRIVACY_GROUP = "privacy"

# Run tags.
COURIER_GROUP_TAG = "cdp/courier_group"
WAIT_MINUTES_TAG = "cdp/wait_minutes"
TRIGGER_TAG = "cdp/trigger"
COURIER_TAG = "cdp/courier"
EVENT_SOURCE_TAG = "cdp/event_source"
# full | incremental | auto: overrides stitch.yaml's `mode` for one run.
STITCH_MODE_TAG = "cdp/stitch_mode"
# Set by the daemon's scheduler on a schedule's runs (Dagster's hidden ".dagster/" prefix):
# the tick a run was due for, which a late or queued run still checks and delivers for.
SCHEDULED_TAG = ".dagster/scheduled_execution_time"

# The Customer 360 database every tenant has.
STANDARD_DB = "c360"


def courier_key(source: str, courier: str) -> AssetKey:
    return AssetKey(["landing", source, courier])


def event_landing_key(source: str) -> AssetKey:
    """The landing files the collector writes for an event source (outside Dagster)."""
    return AssetKey(["landing", "events", source])


def domain_key(table: str) -> AssetKey:
    return AssetKey(["domain", table])


def stitch_key(name: str) -> AssetKey:
    return AssetKey(["stitch", name])


def c360_key(database: str, name: str) -> AssetKey:
    return AssetKey(["c360", database, name])


def privacy_key(name: str) -> AssetKey:
    return AssetKey(["privacy", name])


PRIVACY_REQUESTS_KEY = privacy_key("privacy_requests")
# Applying requests: Customer 360 depends on it, so a failed privacy step publishes nothing.
PRIVACY_COMPLIANCE_KEY = privacy_key("unified_compliance")


# Registers every Customer 360 table in Trino; audiences read what it published.
TRINO_PUBLICATION_KEY = AssetKey(["c360", "trino_publication"])


def query_key(name: str) -> AssetKey:
    return AssetKey(["activation", "queries", name])


def segment_key(name: str) -> AssetKey:
    return AssetKey(["activation", "segments", name])


def campaign_key(name: str) -> AssetKey:
    return AssetKey(["activation", "campaigns", name])


def audience_key(kind: str, name: str) -> AssetKey:
    """The asset of a saved query, segment or campaign (``kind``)."""
    return {"campaign": campaign_key, "segment": segment_key, "query": query_key}[kind](name)


def delivery_key(name: str) -> AssetKey:
    return AssetKey(["activation", "deliveries", name])


def courier_group_job_name(group: str) -> str:
    return f"courier_group_{group}"


def wait_minutes_for(run_tags: dict[str, str], courier_name: str) -> float:
    """How long this run's courier polls for a file (0 outside a courier group run)."""
    waits = json.loads(run_tags.get(WAIT_MINUTES_TAG, "{}"))
    return float(waits.get(courier_name, 0))
