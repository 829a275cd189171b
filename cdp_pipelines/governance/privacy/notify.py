"""Deletion files for destinations: after a delete or delete_pii, each destination
``privacy.yaml`` names in ``notify_destinations`` is sent the people to forget through its
normal transport (:func:`cdp_pipelines.activation.destinations.deliver`: file stores,
REST, warehouse; a sandbox's outbox; the delivery log so a retry never sends twice).

A row per request and customer: ``request_id``, ``request_type``, ``amperity_id`` (the ID
campaigns were delivered with) and ``email_sha256``, the unsalted SHA-256 of the
normalised email, the form ad and email platforms match deletions on. No plain value.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import TYPE_CHECKING

from cdp_pipelines.governance.privacy.matching import Match
from cdp_pipelines.governance.privacy.suppression import normalise
from cdp_pipelines.tenant.delivery import TemplateSpec
from cdp_pipelines.tenant.model import Tenant

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

COLUMNS = ("request_id", "request_type", "amperity_id", "email_sha256")
TEMPLATE = TemplateSpec(name="privacy_deletions", fields={c: c for c in COLUMNS},
                        required=("request_id",))


def deletion_rows(matches: list[Match]) -> list[dict[str, str | None]]:
    rows = []
    for m in matches:
        emails = sorted({normalise("email", v) for k, v in m.identifiers if k == "email"} - {None})
        email_sha = [hashlib.sha256(e.encode("utf-8")).hexdigest() for e in emails] or [None]
        for amperity_id in sorted(m.amperity_ids) or [None]:
            for sha in email_sha:
                rows.append({"request_id": m.request.request_id,
                             "request_type": m.request.type,
                             "amperity_id": amperity_id, "email_sha256": sha})
    return rows


def notify_destinations(lake: "DeltaLake", config: Tenant, matches: list[Match],
                        today: date) -> dict[str, str]:
    """Send the deletion file to every notified destination; destination -> what happened."""
    import pandas as pd

    from cdp_pipelines.activation.delivery_log import DeliveryLog
    from cdp_pipelines.activation.destinations import deliver

    names = config.privacy.notify_destinations if config.privacy else ()
    rows = deletion_rows(matches)
    if not names or not rows:
        return {}
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    log = DeliveryLog(lake.session, lake.deployment)
    out = {}
    for name in names:
        result = deliver(frame, config.destinations[name], TEMPLATE, orchestration="privacy",
                         treatment="deletions", campaign="privacy", delivery_date=today,
                         deployment=lake.deployment, log=log)
        out[name] = f"{result.status}: {result.rows} row(s) to {result.target}"
    return out
