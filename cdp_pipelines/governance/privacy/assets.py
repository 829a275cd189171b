"""The ``privacy`` asset group.

- ``privacy/privacy_requests``: reads the ``privacy-request`` sources' landed files into the
  requests table (the CLI writes there directly); malformed requests are rejected.
- ``privacy/unified_compliance``: applies every pending request after Stitch: DSAR reports,
  deletes and PII removal across the deployment's Delta tables, landing and outbox files,
  suppression hashes, VACUUM; one row per (request, table, action) appended to
  ``unified_compliance``, the request's status set, every request and action audited.
  Customer 360 depends on it: when it fails nothing is rebuilt or published.

A sandbox's lake resource resolves every table under ``branches/<name>/``, and it never
writes production's landing: requests in a sandbox change only the sandbox's data.
"""


import os
import time

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.governance.audit import AuditLog, audit_log_path
from cdp_pipelines.governance.privacy import requests as rq
from cdp_pipelines.governance.privacy.apply import COMPLIANCE_TABLE, apply_requests
from cdp_pipelines.governance.privacy.suppression import table_parts
from cdp_pipelines.keys import (
    PRIVACY_COMPLIANCE_KEY,
    PRIVACY_GROUP,
    PRIVACY_REQUESTS_KEY,
    courier_key,
    domain_key,
    stitch_key,
)
from cdp_pipelines.pools import PRIVACY_POOL
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import landed_files
from cdp_pipelines.tenant.model import Tenant


def audit(deployment: Deployment, action: str, outcome: str, detail: str) -> None:
    """Append to production's audit log: request ids, tables and counts, never values."""
    production = Deployment(lake_root=deployment.lake_root)
    AuditLog(audit_log_path(production, os.environ.get("CDP_AUDIT_LOG"))).record(
        user=os.environ.get("USER", "dagster"), roles=(), action=action,
        sandbox=deployment.sandbox, outcome=outcome, detail=detail)


def overview(lake: DeltaLake) -> tuple[dict[str, int], str]:
    """Requests per status, and a Markdown table of the latest ones (ids, never values)."""
    if not lake.exists("_system", *table_parts(rq.REQUESTS_TABLE)):
        return {}, "no requests yet"
    table = lake.read("_system", *table_parts(rq.REQUESTS_TABLE))
    counts = {r["status"]: r["count"] for r in table.groupBy("status").count().collect()}
    rows = table.orderBy(table["submitted_at"].desc()).limit(20).collect()
    lines = ["| request | type | strategy | received | status | detail |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['request_id']} | {r['type']} | {r['strategy']} | {r['received']} | "
              f"{r['status']} | {(r['detail'] or '')[:80]} |" for r in rows]
    return counts, "\n".join(lines)


def build_privacy_assets(config: Tenant, deployment: Deployment) -> list[AssetsDefinition]:
    if config.privacy is None:
        return []
    from cdp_pipelines.stitch.transactions import transaction_tables

    couriers = config.privacy_request_couriers
    orders, items = transaction_tables(config)
    # Every table privacy changes is built before it: Stitch outputs and custom domain tables.
    upstream = [stitch_key("unified_coalesced"), stitch_key("unified_changes_pks"),
                *([stitch_key("unified_transactions")] if orders else []),
                *([stitch_key("unified_itemized_transactions")] if items else []),
                *[domain_key(t.name) for t in config.custom_domain_tables]]

    @asset(key=PRIVACY_REQUESTS_KEY, group_name=PRIVACY_GROUP, pool=PRIVACY_POOL,
           deps=[courier_key(s.name, c.name) for s, c in couriers], kinds={"delta"},
           description="Privacy requests (dsar, delete, delete_pii) from the privacy-request "
                       "sources and `cdp privacy request`; malformed ones rejected with the "
                       "reason.")
    def privacy_requests(context: AssetExecutionContext, lake: DeltaLake) -> MaterializeResult:
        records = []
        for source, courier in couriers:
            landing = lake_path(deployment.landing_read_path(source.name, courier.name))
            for landed in landed_files(courier, landing):
                for i, record in enumerate(rq.read_request_file(landed.path), start=1):
                    records.append((f"{source.name}/{landed.relpath}:{i}", record))
        accepted, rejected = rq.store_requests(lake, records, config.privacy)
        for request in accepted:
            audit(deployment, f"privacy.{request.type}.received", "ok",
                  f"request {request.request_id} ({request.strategy}) from {request.origin}")
        for origin, reason in rejected:
            context.log.warning(f"privacy request {origin} rejected: {reason}")
            audit(deployment, "privacy.request.rejected", "refused", f"{origin}: {reason}")
        counts, table = overview(lake)
        return MaterializeResult(metadata={
            "requests_new": MetadataValue.int(len(accepted)),
            "requests_rejected": MetadataValue.json([f"{o}: {r}" for o, r in rejected]),
            "requests_by_status": MetadataValue.json(counts),
            "overview": MetadataValue.md(table),
        })

    @asset(key=PRIVACY_COMPLIANCE_KEY, group_name=PRIVACY_GROUP, pool=PRIVACY_POOL,
           deps=[PRIVACY_REQUESTS_KEY, *upstream], kinds={"spark", "delta"},
           description="Applies pending privacy requests everywhere (tables, landing and "
                       "outbox files, suppression, VACUUM); one row per request, table and "
                       "action.")
    def unified_compliance(context: AssetExecutionContext, lake: DeltaLake) -> MaterializeResult:
        started = time.monotonic()
        pending = rq.pending_requests(lake)
        outcome = apply_requests(lake, config, pending, context.run.run_id, context.log)
        for request in pending:
            status, detail, _ = outcome.statuses[request.request_id]
            audit(deployment, f"privacy.{request.type}.apply",
                  "ok" if status == rq.APPLIED else "failed",
                  f"request {request.request_id}: {status}; {detail}")
        counts, table = overview(lake)
        metadata = {
            "requests_applied": MetadataValue.int(sum(
                1 for s, _, _ in outcome.statuses.values() if s == rq.APPLIED)),
            "requests_by_status": MetadataValue.json(counts),
            "overview": MetadataValue.md(table),
            "actions": MetadataValue.md(outcome.actions_markdown()),
            "rows_changed_per_table": MetadataValue.json(outcome.rows_per_table()),
            "files_rewritten": MetadataValue.json(outcome.files.rewritten),
            "files_not_replayable": MetadataValue.json(outcome.files.not_replayable),
            "identifiers_suppressed": MetadataValue.int(outcome.suppressed),
            "deletion_files": MetadataValue.json(outcome.notified),
            "vacuum_retention_hours": MetadataValue.int(config.privacy.vacuum_retention_hours),
            "seconds": MetadataValue.float(round(time.monotonic() - started, 1)),
        }
        if lake.exists("_system", *table_parts(COMPLIANCE_TABLE)):
            metadata["dagster/row_count"] = MetadataValue.int(
                lake.read("_system", *table_parts(COMPLIANCE_TABLE)).count())
        if outcome.error:
            raise Failure(f"privacy: {outcome.error}; Customer 360 is not rebuilt or "
                          "published until the requests apply", metadata=metadata)
        return MaterializeResult(metadata=metadata)

    return [privacy_requests, unified_compliance]
