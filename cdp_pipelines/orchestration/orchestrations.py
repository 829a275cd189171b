"""Orchestrations: an audience (campaign, segment or saved query) delivered to destinations
through data templates, on a schedule or after a courier group's run succeeds.

``activation/orchestrations.yaml``::

    orchestrations:
      - name: winback_weekly
        campaign: winback_q4            # each treatment goes to its own destination
        templates: {email_tool: email_fields}   # destination -> template (optional)
        schedule: {cron: "0 7 * * 1", timezone: America/New_York}
      - name: vip_to_crm
        segment: vips                   # or query: <saved query>
        destination: crm_api
        template: crm_fields
        after_courier_group: nightly    # a sensor: runs after that group's run succeeds

Each orchestration is an asset ``activation/deliveries/<name>`` (group ``deliveries``),
downstream of its audience: one delivery per (treatment, destination), each logged so a
re-run the same day sends nothing twice. A destination without a template receives
``amperity_id`` (plus ``sub_audience`` and ``treatment`` for campaigns) and the audience's
attribute columns under their own names. A one-time campaign is delivered once; no
campaign is delivered before its launch date. Schedules and sensors are on in
production and off by default in sandboxes. Courier-group runs refresh audiences but do
not deliver: delivering is the orchestration's job.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations.
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
    run_status_sensor,
)

from cdp_pipelines.activation.audience_assets import audience_rows_sql
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import (
    ACTIVATION_GROUP,
    DELIVERIES_GROUP,
    SCHEDULED_TAG,
    audience_key,
    delivery_key,
)
from cdp_pipelines.observability import stage
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.trino import TrinoResource
from cdp_pipelines.tenant.audiences import DEFAULT_ATTRIBUTES
from cdp_pipelines.tenant.delivery import OrchestrationSpec, TemplateSpec
from cdp_pipelines.tenant.model import Tenant


def _template_for(cfg: Tenant, o: OrchestrationSpec, destination: str,
                  columns: Sequence[str]) -> TemplateSpec:
    name = o.templates.get(destination) or o.template
    if name:
        return cfg.templates[name]
    return TemplateSpec(name=f"{o.name}_{destination}_default",
                        fields={c: c for c in columns})


def _attribute_columns(cfg: Tenant, o: OrchestrationSpec, destination: str,
                       template: TemplateSpec | None) -> tuple[str, ...]:
    """merged_customers columns the rows need: the template's sources, else the campaign's
    attribute list for that destination (its defaults) for campaigns and segments."""
    identity = {"amperity_id", "sub_audience", "treatment"}
    if template is not None:
        return tuple(c for c in dict.fromkeys(template.fields.values()) if c not in identity)
    if o.kind == "campaign":
        return cfg.campaign(o.campaign).columns_for(destination)
    if o.kind == "segment":
        return DEFAULT_ATTRIBUTES
    return ()


def _delivery_date(context: AssetExecutionContext, timezone: str) -> date:
    scheduled = context.run.tags.get(SCHEDULED_TAG)
    zone = ZoneInfo(timezone)
    if scheduled:
        return datetime.fromisoformat(scheduled).astimezone(zone).date()
    return datetime.now(zone).date()


def _already_delivered_once(log, o: OrchestrationSpec) -> bool:
    return any(e.orchestration == o.name and e.status == "complete" for e in log.entries())


def build_delivery_asset(cfg: Tenant, o: OrchestrationSpec, deployment: Deployment,
                         timezone: str):
    routes = cfg.routes(o)
    campaign = cfg.campaign(o.campaign) if o.campaign else None
    description = o.description or (
        f"Delivers {o.kind} {o.audience} to " +
        ", ".join(sorted({d for _, d in routes})) + " (delivery log: never twice).")

    @table_asset(key=delivery_key(o.name), group_name=DELIVERIES_GROUP,
                 deps=[audience_key(o.kind, o.audience)],
                 kinds={"trino"}, description=description)
    def _deliver(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        from cdp_pipelines.activation.delivery_log import DeliveryLog
        from cdp_pipelines.activation.destinations import DeliveryError, deliver

        when = _delivery_date(context, timezone)
        log = DeliveryLog(lake.session, deployment)
        if campaign is not None and campaign.launch_date and when < campaign.launch_date:
            return MaterializeResult(metadata={"status": MetadataValue.text(
                f"not launched: campaign {campaign.name} launches {campaign.launch_date}")})
        if campaign is not None and campaign.schedule == "one_time" and \
                _already_delivered_once(log, o):
            return MaterializeResult(metadata={"status": MetadataValue.text(
                f"one-time campaign {campaign.name} was delivered already; nothing sent")})
        results: dict[str, Any] = {}
        for treatment, destination_name in routes:
            destination = cfg.destinations[destination_name]
            chosen = o.templates.get(destination_name) or o.template
            columns = _attribute_columns(cfg, o, destination_name,
                                         cfg.templates[chosen] if chosen else None)
            sql = audience_rows_sql(o.kind, o.audience, treatment, columns,
                                    deployment=deployment, catalog=trino.catalog)
            label = f"{treatment or o.audience} -> {destination_name}"
            try:
                with stage(context.log, f"activation: {label}") as s:
                    rows = trino.query_df(sql)
                    template = _template_for(cfg, o, destination_name, list(rows.columns))
                    result = deliver(rows, destination, template, orchestration=o.name,
                                     treatment=treatment or o.kind, campaign=o.audience,
                                     delivery_date=when, deployment=deployment, log=log)
                    s.count(result.rows, "rows")
                    s.count(result.rejected or None, "rejected")
                    s.note = f"{result.status} to {result.target}"
            except DeliveryError as exc:
                raise Failure(f"orchestration {o.name}: {label}: {exc}") from None
            results[label] = {"status": result.status, "rows": result.rows,
                              "rejected": result.rejected, "target": result.target}
        return MaterializeResult(metadata={
            "deliveries": MetadataValue.json(results),
            "rows_sent": MetadataValue.int(sum(r["rows"] for r in results.values()
                                               if r["status"] == "sent")),
            "delivery_date": MetadataValue.text(when.isoformat()),
        })

    return _deliver


def build_delivery_assets(cfg: Tenant, deployment: Deployment,
                          timezone: str) -> list:
    return [build_delivery_asset(cfg, o, deployment, timezone) for o in cfg.orchestrations]


def job_name(o: OrchestrationSpec) -> str:
    return f"orchestration_{o.name}"


def _job(o: OrchestrationSpec):
    # The delivery with the audience it sends, recomputed first (campaign, its segments).
    key = delivery_key(o.name)
    selection = AssetSelection.assets(key) | (
        AssetSelection.assets(key).upstream() & AssetSelection.groups(ACTIVATION_GROUP))
    return define_asset_job(job_name(o), selection=selection, tags={"cdp/orchestration": o.name},
                            description=o.description or f"Orchestration {o.name}.")


def build_orchestration_triggers(
    cfg: Tenant, deployment: Deployment, courier_group_jobs: Mapping[str, Any],
) -> tuple[list, list[ScheduleDefinition], list[SensorDefinition]]:
    """Jobs, schedules and after-courier-group sensors of the orchestrations."""
    schedule_status = (DefaultScheduleStatus.STOPPED if deployment.is_sandbox
                       else DefaultScheduleStatus.RUNNING)
    sensor_status = (DefaultSensorStatus.STOPPED if deployment.is_sandbox
                     else DefaultSensorStatus.RUNNING)
    jobs, schedules, sensors = [], [], []
    for o in cfg.orchestrations:
        job = _job(o)
        jobs.append(job)
        if o.schedule:
            schedules.append(ScheduleDefinition(
                name=f"{job_name(o)}_schedule", job=job, cron_schedule=o.schedule.cron,
                execution_timezone=o.schedule.timezone, default_status=schedule_status,
                description=f"Orchestration {o.name} at '{o.schedule.cron}' "
                            f"({o.schedule.timezone})."))
        if o.after_courier_group:
            sensors.append(_after_group_sensor(o, job, courier_group_jobs[o.after_courier_group],
                                               sensor_status))
    return jobs, schedules, sensors


def _after_group_sensor(o: OrchestrationSpec, job, group_job, status) -> SensorDefinition:
    @run_status_sensor(name=f"{job_name(o)}_after_{group_job.name}",
                       run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[group_job],
                       request_job=job, default_status=status,
                       description=f"Runs orchestration {o.name} after courier group job "
                                   f"{group_job.name} succeeds.")
    def _after(context):
        # One delivery run per successful group run (the run id keys it).
        return RunRequest(run_key=context.dagster_run.run_id,
                          tags={"cdp/after_run": context.dagster_run.run_id})

    return _after
