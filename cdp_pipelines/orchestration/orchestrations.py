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
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetExecutionContext,
    AssetKey,
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
    asset,
    define_asset_job,
    run_status_sensor,
)
from pydantic import Field, model_validator

from cdp_pipelines.activation.audience_assets import (
    AudienceConfig,
    audience_rows_sql,
    campaign_key,
    load_activation_audiences,
    query_key,
    segment_key,
)
from cdp_pipelines.activation.campaigns import DEFAULT_ATTRIBUTES, CampaignSpec
from cdp_pipelines.activation.destinations import DestinationSpec, load_destinations
from cdp_pipelines.activation.templates import TemplateSpec, load_templates
from cdp_pipelines.config.loader import ConfigError, _read_yaml, _validate
from cdp_pipelines.config.models import CourierGroupSpec, Name, TenantConfig, _Model
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.orchestration.courier_groups import DELIVERIES_GROUP
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.trino import TrinoResource

ORCHESTRATIONS_FILE = "activation/orchestrations.yaml"
DESTINATIONS_FILE = "activation/destinations.yaml"
TEMPLATES_FILE = "activation/templates.yaml"
AUDIENCE_GROUP = "activation"
SCHEDULED_TAG = "dagster/scheduled_execution_time"


class ScheduleSpec(_Model):
    cron: str
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _known_zone(self) -> "ScheduleSpec":
        try:
            ZoneInfo(self.timezone)
        except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone") from None
        return self


class OrchestrationSpec(_Model):
    name: Name
    description: str = ""
    campaign: str | None = None
    segment: str | None = None
    query: str | None = None
    # Segments and queries: where the rows go. Campaigns: each treatment's destination.
    destination: str | None = None
    # One template for every destination, or one per destination.
    template: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    after_courier_group: str | None = None

    @model_validator(mode="after")
    def _one_audience(self) -> "OrchestrationSpec":
        given = [k for k in ("campaign", "segment", "query") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"orchestration {self.name}: give exactly one of campaign, "
                             f"segment or query (got {given or 'none'})")
        if self.campaign and self.destination:
            raise ValueError(f"orchestration {self.name}: a campaign's treatments name their "
                             "destinations; drop 'destination'")
        if not self.campaign and not self.destination:
            raise ValueError(f"orchestration {self.name}: 'destination' is required for a "
                             f"{given[0]}")
        if self.template and self.templates:
            raise ValueError(f"orchestration {self.name}: give 'template' or 'templates', "
                             "not both")
        return self

    @property
    def kind(self) -> str:
        return "campaign" if self.campaign else "segment" if self.segment else "query"

    @property
    def audience(self) -> str:
        return self.campaign or self.segment or self.query or ""


class _OrchestrationsFile(_Model):
    orchestrations: list[OrchestrationSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class ActivationConfig:
    """Everything under a tenant's ``activation/``, validated together."""

    audiences: AudienceConfig
    destinations: Mapping[str, DestinationSpec] = field(default_factory=dict)
    templates: Mapping[str, TemplateSpec] = field(default_factory=dict)
    orchestrations: tuple[OrchestrationSpec, ...] = ()

    def campaign(self, name: str) -> CampaignSpec:
        return next(c for c in self.audiences.campaigns if c.name == name)

    def routes(self, orchestration: OrchestrationSpec) -> list[tuple[str | None, str]]:
        """(treatment or None, destination) pairs an orchestration delivers."""
        if orchestration.campaign:
            return [(t.name, t.destination)
                    for t in self.campaign(orchestration.campaign).treatments]
        return [(None, orchestration.destination or "")]


def _check_references(cfg: ActivationConfig, groups: Sequence[CourierGroupSpec]) -> None:
    where = ORCHESTRATIONS_FILE
    names = {"campaign": {c.name for c in cfg.audiences.campaigns},
             "segment": {s.name for s in cfg.audiences.segments},
             "query": {q.name for q in cfg.audiences.queries}}
    for campaign in cfg.audiences.campaigns:
        for i, treatment in enumerate(campaign.treatments):
            if treatment.destination not in cfg.destinations:
                raise ConfigError(
                    f"activation/campaigns.yaml: campaign {campaign.name}: treatments[{i}]"
                    f".destination {treatment.destination!r} is not in {DESTINATIONS_FILE} "
                    f"(destinations: {sorted(cfg.destinations)})")
    group_names = {g.name for g in groups}
    seen: set[str] = set()
    for i, o in enumerate(cfg.orchestrations):
        at = f"{where}: orchestrations[{i}] ({o.name})"
        if o.name in seen:
            raise ConfigError(f"{at}: the name is used twice")
        seen.add(o.name)
        if o.audience not in names[o.kind]:
            raise ConfigError(f"{at}.{o.kind}: no {o.kind} named {o.audience!r} "
                              f"(known: {sorted(names[o.kind])})")
        destinations = [d for _, d in cfg.routes(o)]
        for d in destinations:
            if d not in cfg.destinations:
                raise ConfigError(f"{at}.destination: {d!r} is not in {DESTINATIONS_FILE} "
                                  f"(destinations: {sorted(cfg.destinations)})")
        stray = sorted(set(o.templates) - set(destinations))
        if stray:
            raise ConfigError(f"{at}.templates: {stray} are not destinations of this "
                              f"orchestration ({sorted(set(destinations))})")
        for t in [o.template, *o.templates.values()]:
            if t and t not in cfg.templates:
                raise ConfigError(f"{at}: template {t!r} is not in {TEMPLATES_FILE} "
                                  f"(templates: {sorted(cfg.templates)})")
        if o.after_courier_group and o.after_courier_group not in group_names:
            raise ConfigError(f"{at}.after_courier_group: no courier group "
                              f"{o.after_courier_group!r} (groups: {sorted(group_names)})")


def load_activation(config: TenantConfig, env: Mapping[str, str] | None = None
                    ) -> ActivationConfig:
    """Read and cross-check a tenant's ``activation/`` directory (every file optional)."""
    env = dict(os.environ if env is None else env)
    root = Path(config.root)
    audiences = load_activation_audiences(root, env)
    destinations = (load_destinations(root / DESTINATIONS_FILE, root, env)
                    if (root / DESTINATIONS_FILE).is_file() else {})
    templates = (load_templates(root / TEMPLATES_FILE, root, env)
                 if (root / TEMPLATES_FILE).is_file() else {})
    orchestrations: tuple[OrchestrationSpec, ...] = ()
    file = root / ORCHESTRATIONS_FILE
    if file.is_file():
        parsed = _validate(_OrchestrationsFile, _read_yaml(file, root, env), file, root)
        orchestrations = tuple(parsed.orchestrations)
    cfg = ActivationConfig(audiences, destinations, templates, orchestrations)
    _check_references(cfg, config.courier_groups)
    return cfg


def delivery_key(name: str) -> AssetKey:
    return AssetKey(["activation", "deliveries", name])


def _audience_key(o: OrchestrationSpec) -> AssetKey:
    return {"campaign": campaign_key, "segment": segment_key, "query": query_key}[o.kind](
        o.audience)


def _template_for(cfg: ActivationConfig, o: OrchestrationSpec, destination: str,
                  columns: Sequence[str]) -> TemplateSpec:
    name = o.templates.get(destination) or o.template
    if name:
        return cfg.templates[name]
    return TemplateSpec(name=f"{o.name}_{destination}_default",
                        fields={c: c for c in columns})


def _attribute_columns(cfg: ActivationConfig, o: OrchestrationSpec, destination: str,
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


def build_delivery_asset(cfg: ActivationConfig, o: OrchestrationSpec, deployment: Deployment,
                         timezone: str):
    routes = cfg.routes(o)
    campaign = cfg.campaign(o.campaign) if o.campaign else None
    description = o.description or (
        f"Delivers {o.kind} {o.audience} to " +
        ", ".join(sorted({d for _, d in routes})) + " (delivery log: never twice).")

    @asset(key=delivery_key(o.name), group_name=DELIVERIES_GROUP, deps=[_audience_key(o)],
           kinds={"trino"}, description=description)
    def _deliver(context: AssetExecutionContext, lake: DeltaLake, trino: TrinoResource):
        from cdp_pipelines.activation.delivery_log import DeliveryLog
        from cdp_pipelines.activation.destinations import DeliveryError, deliver

        lake.use_deployment(deployment)
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
            rows = trino.query_df(sql)
            template = _template_for(cfg, o, destination_name, list(rows.columns))
            label = f"{treatment or o.audience} -> {destination_name}"
            try:
                result = deliver(rows, destination, template, orchestration=o.name,
                                 treatment=treatment or o.kind, campaign=o.audience,
                                 delivery_date=when, deployment=deployment, log=log)
            except DeliveryError as exc:
                raise Failure(f"orchestration {o.name}: {label}: {exc}") from None
            context.log.info(f"{label}: {result.status}, {result.rows} rows to {result.target}"
                             + (f", {result.rejected} rejected" if result.rejected else ""))
            results[label] = {"status": result.status, "rows": result.rows,
                              "rejected": result.rejected, "target": result.target}
        return MaterializeResult(metadata={
            "deliveries": MetadataValue.json(results),
            "rows_sent": MetadataValue.int(sum(r["rows"] for r in results.values()
                                               if r["status"] == "sent")),
            "delivery_date": MetadataValue.text(when.isoformat()),
        })

    return _deliver


def build_delivery_assets(cfg: ActivationConfig, deployment: Deployment,
                          timezone: str) -> list:
    return [build_delivery_asset(cfg, o, deployment, timezone) for o in cfg.orchestrations]


def job_name(o: OrchestrationSpec) -> str:
    return f"orchestration_{o.name}"


def _job(o: OrchestrationSpec):
    # The delivery with the audience it sends, recomputed first (campaign, its segments).
    key = delivery_key(o.name)
    selection = AssetSelection.assets(key) | (
        AssetSelection.assets(key).upstream() & AssetSelection.groups(AUDIENCE_GROUP))
    return define_asset_job(job_name(o), selection=selection, tags={"cdp/orchestration": o.name},
                            description=o.description or f"Orchestration {o.name}.")


def build_orchestration_triggers(
    cfg: ActivationConfig, deployment: Deployment, courier_group_jobs: Mapping[str, Any],
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
