"""Apply pending privacy requests: the steps, in order, and what each request ends as.

1. match every request's records (after Stitch);
2. ``dsar``: write the report; 3. ``delete`` / ``delete_pii``: hash the identifiers into
   the suppression table *first* (so a crash later still stops re-ingest), then change
   every Delta table, rewrite landing and outbox files, VACUUM the changed tables;
4. append one compliance row per (request, table, action); set each request's status
   (``applied``, ``failed``, ``partially applied``) and replace its identifiers by hashes.

An error stops the steps; the requests it concerns end ``failed`` (nothing changed yet) or
``partially applied`` (some tables changed), are retried on the next run (they are still
pending), and the asset fails so Customer 360 is not published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from cdp_pipelines.governance.privacy import requests as rq
from cdp_pipelines.governance.privacy.dsar import write_report
from cdp_pipelines.governance.privacy.files import FileOutcome, rewrite_outbox
from cdp_pipelines.governance.privacy.landing import (
    load_suppressed,
    scrub_landing,
    scrub_request_files,
)
from cdp_pipelines.governance.privacy.matching import Match, match_requests
from cdp_pipelines.governance.privacy.notify import notify_destinations
from cdp_pipelines.governance.privacy.suppression import (
    add_suppressions,
    digest,
    hash_identifier,
    normalise,
    read_suppression,
    salt,
    table_parts,
)
from cdp_pipelines.governance.privacy.tables import Action, apply_to_tables, vacuum
from cdp_pipelines.observability import stage
from cdp_pipelines.tenant.model import Tenant

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

COMPLIANCE_TABLE = "unified_compliance"
COMPLIANCE_SCHEMA = ("request_id string, table string, records_matched long, action string, "
                     "match_category string, run_id string")


@dataclass
class Outcome:
    statuses: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    files: FileOutcome = field(default_factory=FileOutcome)
    suppressed: int = 0
    error: str | None = None
    # destination -> what its deletion file delivery did
    notified: dict[str, str] = field(default_factory=dict)

    def rows_per_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.table] = out.get(a.table, 0) + a.records
        return out

    def actions_markdown(self) -> str:
        lines = ["| request | table | records | action | match |", "|---|---|---|---|---|"]
        lines += [f"| {a.request_id} | {a.table} | {a.records} | {a.action} | {a.category} |"
                  for a in self.actions[:200]]
        return "\n".join(lines)


def _hashed(secret, request: rq.PrivacyRequest) -> str:
    ids = dict(request.identifiers)
    if "address" in ids:
        ids["address"] = f"{ids.pop('address')}|{ids.pop('postal', '')}"
    return json.dumps({k: hash_identifier(secret, k, v) for k, v in sorted(ids.items())})


def _suppressions(secret, match: Match) -> set[tuple[str, str, str, str]]:
    rid, action = match.request.request_id, match.request.type
    rows = {("record", digest(secret, "record", f"{s}|{pk}"), rid, action)
            for s, pk in match.records}
    for kind, value in match.identifiers:
        hashed = hash_identifier(secret, kind, value)
        if hashed:
            rows.add((kind, hashed, rid, action))
    if "address" in match.request.identifiers:
        ids = match.request.identifiers
        norm = normalise("address", f"{ids['address']}|{ids['postal']}")
        if norm:
            rows.add(("address", digest(secret, "address", norm), rid, action))
    return rows


def apply_requests(lake: "DeltaLake", config: Tenant, pending: list[rq.PrivacyRequest],
                   run_id: str, log) -> Outcome:
    outcome = Outcome()
    if lake.deployment.is_sandbox:
        log.info("privacy: a sandbox reads production's landing read-only; not scrubbed")
    elif not pending:
        # Files landed again since the last deletion may hold a deleted person; request
        # lines rejected since the last run are scrubbed too.
        try:
            if read_suppression(lake) is not None:
                scrub_landing(lake, config, load_suppressed(lake, salt(config.privacy)),
                              outcome.files, log)
            scrub_request_files(lake, config, outcome.files)
        except Exception as exc:  # noqa: BLE001 - reported; the asset fails
            outcome.error = f"scrubbing landing files: {type(exc).__name__}: {exc}"
    if not pending:
        return outcome
    secret = salt(config.privacy)
    started: set[str] = set()
    vacuumed: list[tuple[str, ...]] = []
    try:
        with stage(log, "privacy: matching requests") as st:
            matches = match_requests(lake, pending)
            st.count(sum(len(m.records) for m in matches.values()), "records")
        for match in matches.values():
            if match.request.type == "dsar":
                where, rows = write_report(lake, config, match)
                outcome.actions.append(Action(match.request.request_id, where, rows,
                                              "dsar report", "direct"))
        for action in ("delete", "delete_pii"):
            group = [m for m in matches.values() if m.request.type == action]
            if not group:
                continue
            rows = set().union(*(_suppressions(secret, m) for m in group))
            outcome.suppressed += add_suppressions(lake, rows)
            started |= {m.request.request_id for m in group}
            with stage(log, f"privacy: {action} in every table") as st:
                actions, changed = apply_to_tables(lake, config, group, action, log)
                st.count(sum(a.records for a in actions), "rows")
                st.count(len(changed), "tables")
            outcome.actions += actions
            rewrite_outbox(lake, group, outcome.files, log)
            vacuumed += changed
            for name, sent in notify_destinations(lake, config, group,
                                                  date.today()).items():
                log.info(f"privacy: deletion file to {name}: {sent}")
                outcome.notified[name] = sent
        # Once, after every action: each changed table's old versions go together.
        with stage(log, "privacy: VACUUM") as st:
            vacuum(lake, vacuumed, config.privacy.vacuum_retention_hours)
            st.count(len(set(vacuumed)), "tables")
        if not lake.deployment.is_sandbox:
            with stage(log, "privacy: scrubbing landing files") as st:
                scrub_landing(lake, config, load_suppressed(lake, secret), outcome.files, log)
                st.count(len(outcome.files.rewritten), "files rewritten")
        if outcome.files.failed:
            outcome.error = ("files that hold a deleted person could not be rewritten: "
                             + "; ".join(f"{f}: {r}" for f, r in outcome.files.failed.items()))
    except Exception as exc:  # noqa: BLE001 - recorded per request, then the asset fails
        outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error(f"privacy: applying requests failed: {outcome.error}")
    for request in pending:
        rid = request.request_id
        if outcome.error is None:
            status = rq.APPLIED
        else:
            status = rq.PARTIAL if rid in started else rq.FAILED
        n = sum(a.records for a in outcome.actions if a.request_id == rid)
        detail = f"{n} row(s) in {len({a.table for a in outcome.actions if a.request_id == rid})}" \
                 f" table(s)" + (f"; {outcome.error}" if outcome.error else "")
        # Identifiers stay readable only while the request is still to be applied.
        hashed = _hashed(secret, request) if status == rq.APPLIED else json.dumps(
            request.identifiers, sort_keys=True)
        outcome.statuses[rid] = (status, detail[:500], hashed)
    # A file is scrubbed against every suppressed person at once: its rows are counted
    # under the table "file", request "-" when no request of this run is its cause.
    erasing = [m.request_id for m in pending if m.type != "dsar"]
    for file, n in outcome.files.rewritten.items():
        outcome.actions.append(Action(",".join(erasing) or "-", file, n, "file rewritten",
                                      "suppressed"))
    for file in outcome.files.not_replayable:
        outcome.actions.append(Action(",".join(erasing) or "-", file, 0, "not replayable",
                                      "suppressed"))
    _record(lake, outcome, run_id)
    rq.mark_requests(lake, outcome.statuses)
    if not lake.deployment.is_sandbox:
        # Only now are the applied requests' identifiers hashed in the table: their lines
        # in the request files follow.
        try:
            scrub_request_files(lake, config, outcome.files)
        except Exception as exc:  # noqa: BLE001 - reported; the asset fails
            outcome.error = f"scrubbing request files: {type(exc).__name__}: {exc}"
    return outcome


def _record(lake: "DeltaLake", outcome: Outcome, run_id: str) -> None:
    from pyspark.sql import functions as F

    rows = [(a.request_id, a.table, int(a.records), a.action, a.category, run_id)
            for a in outcome.actions]
    rows += [(rid, "-", 0, status, "-", run_id) for rid, (status, _, _) in
             outcome.statuses.items()]
    frame = lake.session.createDataFrame(rows, COMPLIANCE_SCHEMA).withColumn(
        "applied_at", F.current_timestamp())
    lake.append(frame, "_system", *table_parts(COMPLIANCE_TABLE))
