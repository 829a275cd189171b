"""The access (dsar) report: one JSON document per request with every row the platform
holds on the person, grouped by source (lake layer) and table, written to the file store
``privacy.yaml``'s ``dsar`` names as ``<request_id>.json``."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cdp_pipelines.governance.privacy.matching import Match
from cdp_pipelines.governance.privacy.tables import person_rows
from cdp_pipelines.tenant.model import Tenant

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def report(lake: "DeltaLake", config: Tenant, match: Match) -> dict[str, Any]:
    grouped: dict[str, dict[str, list]] = {}
    for table, rows in person_rows(lake, config, match).items():
        layer, _, name = table.partition("/")
        grouped.setdefault(layer, {})[name] = rows
    return {
        "request_id": match.request.request_id,
        "received": match.request.received.isoformat(),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tenant": config.tenant.name,
        "customer_ids": sorted(match.amperity_ids),
        "records_matched": len(match.records),
        "sources": grouped,
    }


def write_report(lake: "DeltaLake", config: Tenant, match: Match) -> tuple[str, int]:
    """Write the report; return where it went and how many rows it holds."""
    from cdp_pipelines.transports import make_store

    if config.privacy is None or config.privacy.dsar is None:
        raise ValueError("privacy.yaml names no dsar target: set dsar: {type, options}")
    document = report(lake, config, match)
    name = f"{match.request.request_id}.json"
    store = make_store(config.privacy.dsar.options)
    try:
        store.write_bytes(name, json.dumps(document, default=_plain, indent=2,
                                           sort_keys=True).encode("utf-8"))
    finally:
        store.close()
    rows = sum(len(r) for tables in document["sources"].values() for r in tables.values())
    return config.privacy.dsar.options.location(name), rows
