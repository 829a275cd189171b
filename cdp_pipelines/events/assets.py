"""Event sources as assets: the collector's landing files (written outside Dagster) and
the domain tables a micro-batch load fills from them (see :mod:`.load`), with the
tracking plan's counts and a check that warns when too many events violate it.

Imports nothing heavier than Dagster: Spark comes in with the load, FastAPI never.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import (
    DOMAIN_GROUP,
    EVENT_SOURCE_TAG,
    SOURCES_GROUP,
    domain_key,
    event_landing_key,
)
from cdp_pipelines.pools import table_pool
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.tenant.events import TABLE_KINDS, EventSourceSpec
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.privacy import PrivacySpec

VIOLATION_CHECK = "violation_rate"
_DESCRIPTIONS = {
    "events": "Every message that passed the tracking plan (flagged ones with their "
              "violations), one row per messageId.",
    "identifies": "Identify calls, with Segment's reserved traits as columns for Stitch.",
    "aliases": "Alias calls: previous_id became user_id.",
    "failed_events": "Blocked messages, and the values omitted from passed ones, with "
                     "each rule and reason.",
}


class EventLoadConfig(Config):
    """How much one run loads: the oldest closed files first."""

    max_files: int = 200


def plan_table(counts: dict[str, dict[str, int]]) -> str:
    """Tracking-plan counts per event as a Markdown table."""
    lines = ["| event | events | violating | blocked | omitted |", "|---|---|---|---|---|"]
    for name, c in sorted(counts.items()):
        lines.append(f"| {name} | {c['events']} | {c['violating']} | {c['blocked']} | "
                     f"{c['omitted']} |")
    return "\n".join(lines)


def violation_check(source: EventSourceSpec, counts: dict[str, dict[str, int]]
                    ) -> AssetCheckResult:
    """Warns when the share of violating messages of any event is over the source's
    ``violation_warn_rate``."""
    rates = {name: c["violating"] / c["events"] for name, c in counts.items() if c["events"]}
    over = sorted(name for name, rate in rates.items() if rate > source.violation_warn_rate)
    total = sum(c["events"] for c in counts.values())
    violating = sum(c["violating"] for c in counts.values())
    return AssetCheckResult(
        asset_key=domain_key(source.table("events")), check_name=VIOLATION_CHECK,
        passed=not over, severity=AssetCheckSeverity.WARN,
        description=(f"over {source.violation_warn_rate:.0%} of {', '.join(over)} violate "
                     "the tracking plan") if over else None,
        metadata={
            "messages": MetadataValue.int(total),
            "violating": MetadataValue.int(violating),
            "violation_rate": MetadataValue.float(violating / total if total else 0.0),
            "rate_by_event": MetadataValue.json({n: round(r, 4) for n, r in rates.items()}),
            "warn_above": MetadataValue.float(source.violation_warn_rate),
        })


def build_event_assets(source: EventSourceSpec, deployment: Deployment,
                       privacy: PrivacySpec | None = None) -> list:
    landing = event_landing_key(source.name)
    landing_spec = AssetSpec(
        landing, group_name=SOURCES_GROUP, kinds={"http", "files"},
        tags={EVENT_SOURCE_TAG: source.name},
        description=f"Rolling landing files of event source {source.name}, written by the "
                    "collector (`cdp collect serve`) as events arrive.")
    stitched = {"identifies", "aliases"} if source.stitch else set()
    specs = [AssetSpec(domain_key(source.table(kind)), deps=[landing], group_name=DOMAIN_GROUP,
                       description=_DESCRIPTIONS[kind], kinds={"spark", "delta"},
                       tags={EVENT_SOURCE_TAG: source.name,
                             **({"cdp/stitch": "true"} if kind in stitched else {})})
             for kind in TABLE_KINDS]
    events_key = domain_key(source.table("events"))

    @multi_asset(
        name=f"events_{source.name}", specs=specs, can_subset=False,
        # One load writes all four tables: their pool is the events table's.
        pool=table_pool(events_key),
        check_specs=[AssetCheckSpec(VIOLATION_CHECK, asset=events_key,
                                    description="Share of messages violating the tracking "
                                                "plan, per event, in this load.")],
    )
    def _load(context: AssetExecutionContext, lake: DeltaLake, config: EventLoadConfig):
        from cdp_pipelines.events.load import load_events

        files = lake_path(deployment.landing_read_path("events", source.name))
        result = load_events(lake, source, files, context.run.run_id, config.max_files,
                             privacy=privacy)
        context.log.info(f"{source.name}: {len(result.files)} file(s), {result.lines} line(s), "
                         f"{result.duplicates} duplicate(s), {result.quarantined} quarantined, "
                         f"{result.suppressed} suppressed (deleted people), "
                         f"inserted {result.inserted}; {result.remaining} file(s) wait "
                         f"(seconds: {result.timings})")
        if result.quarantined:
            context.log.warning(f"{source.name}: {result.quarantined} line(s) quarantined in "
                                "domain/_quarantine")
        for kind in TABLE_KINDS:
            table = source.table(kind)
            metadata = load_metadata(result, kind)
            if kind == "events":
                metadata["tracking_plan"] = MetadataValue.md(plan_table(result.plan_counts))
            if kind in result.stats:
                yield lake.table_result(result.stats[kind], "domain", table,
                                        asset_key=domain_key(table), metadata=metadata)
            else:
                yield MaterializeResult(asset_key=domain_key(table), metadata=metadata)
        yield violation_check(source, result.plan_counts)

    return [landing_spec, _load]


def load_metadata(result, kind: str) -> dict:
    """What one load did, as the metadata of one of its tables (the load's figures on the
    events table): the asset's and `cdp collect load --follow`'s materializations alike."""
    metadata = {"rows_inserted": MetadataValue.int(result.inserted.get(kind, 0))}
    if kind == "events":
        metadata.update({
            "files_loaded": MetadataValue.int(len(result.files)),
            "files_waiting": MetadataValue.int(result.remaining),
            "lines_read": MetadataValue.int(result.lines),
            "duplicates": MetadataValue.int(result.duplicates),
            "lines_quarantined": MetadataValue.int(result.quarantined),
            # Messages of people a privacy request deleted: counted, never shown.
            "messages_suppressed": MetadataValue.int(result.suppressed),
        })
    return metadata


def build_all_event_assets(config: Tenant, deployment: Deployment) -> list:
    return [a for source in config.event_sources
            for a in build_event_assets(source, deployment, config.privacy)]
