"""Courier groups: cron schedules that run their couriers and everything downstream.

A group run carries the tags ``cdp/courier_group`` (its name) and ``cdp/wait_minutes``
(JSON: courier -> minutes to keep polling for a file). After each courier of a group,
the asset check ``files_arrived`` decides whether the group's expected file came:

- dated patterns (``{yyyy}{MM}{dd}``): a landed file dated the run's scheduled day (in the
  group's time zone; a manual run checks today);
- undated patterns: the run's courier materialization landed at least one new file.

``when_missing: fail`` makes the check blocking with ERROR severity: the run fails naming
the missing pattern and nothing downstream runs. ``warn`` is a WARN check (the run goes
on); ``ignore`` passes.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations.
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    MetadataValue,
    ScheduleDefinition,
    asset_check,
    define_asset_job,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import (
    COURIER_GROUP_TAG,
    DELIVERIES_GROUP,
    SCHEDULED_TAG,
    WAIT_MINUTES_TAG,
    courier_group_job_name,
    courier_key,
)
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import landed_files
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.schedules import CourierGroupMember, CourierGroupSpec
from cdp_pipelines.tenant.sources import CourierSpec, SourceSpec

CHECK_NAME = "files_arrived"


def _member_key(config: Tenant, courier: str) -> AssetKey:
    source, _ = config.courier(courier)
    return courier_key(source.name, courier)


def build_schedules(config: Tenant, deployment: Deployment) -> list[ScheduleDefinition]:
    """One schedule per courier group: its couriers' assets and everything downstream
    except deliveries."""
    status = DefaultScheduleStatus.STOPPED if deployment.is_sandbox else (
        DefaultScheduleStatus.RUNNING)
    schedules = []
    for group in config.courier_groups:
        keys = [_member_key(config, m.courier) for m in group.couriers]
        tags = {COURIER_GROUP_TAG: group.name,
                WAIT_MINUTES_TAG: json.dumps({m.courier: m.wait_minutes for m in group.couriers})}
        job = define_asset_job(
            courier_group_job_name(group.name), selection=AssetSelection.assets(*keys).downstream()
            # Deliveries belong to orchestrations (schedules or after-group sensors).
            - AssetSelection.groups(DELIVERIES_GROUP), tags=tags,
            description=group.description or f"Courier group {group.name}: "
                        f"{', '.join(m.courier for m in group.couriers)} and downstream.")
        schedules.append(ScheduleDefinition(
            name=f"{courier_group_job_name(group.name)}_schedule", job=job, cron_schedule=group.cron,
            execution_timezone=group.timezone, default_status=status,
            description=f"Courier group {group.name} at '{group.cron}' ({group.timezone})."))
    return schedules


def _expected_day(run_tags: dict[str, str], group: CourierGroupSpec) -> datetime:
    tz = ZoneInfo(group.timezone)
    scheduled = run_tags.get(SCHEDULED_TAG)
    if scheduled:
        return datetime.fromisoformat(scheduled).astimezone(tz)
    return datetime.now(tz)


def missing_reason(context: AssetCheckExecutionContext, source: SourceSpec,
                   courier: CourierSpec, group: CourierGroupSpec,
                   deployment: Deployment) -> tuple[str | None, dict]:
    """(why the group's file is missing or None, metadata) for this run."""
    pattern = FilePattern(courier.pattern)
    tags = dict(context.run.tags)
    if "{dd}" in courier.pattern:
        day = _expected_day(tags, group).date()
        landing = lake_path(deployment.landing_read_path(source.name, courier.name))
        dated = [f.relpath for f in landed_files(courier, landing)
                 if f.file_date and f.file_date.date() == day]
        meta = {"expected_date": MetadataValue.text(day.isoformat()),
                "files_for_date": MetadataValue.json(dated)}
        if dated:
            return None, meta
        return (f"courier group {group.name}: courier {courier.name} has no file matching "
                f"{pattern.pattern!r} dated {day}"), meta
    event = context.instance.get_latest_materialization_event(courier_key(source.name, courier.name))
    landed = 0
    # A sandbox never fetches: there the files replayed from production count.
    field = "files_available" if deployment.is_sandbox else "files_landed"
    if event is not None and event.run_id == context.run.run_id:
        value = event.asset_materialization.metadata.get(field)
        landed = int(value.value) if value is not None else 0
    meta = {"files_landed_this_run": MetadataValue.int(landed)}
    if landed:
        return None, meta
    return (f"courier group {group.name}: courier {courier.name} landed no new file matching "
            f"{pattern.pattern!r} in this run"), meta


def _membership(groups: list[tuple[CourierGroupSpec, CourierGroupMember]],
                run_tags: dict[str, str]) -> tuple[CourierGroupSpec, CourierGroupMember]:
    # The run's own group decides; outside a group run the first group's setting does.
    running = run_tags.get(COURIER_GROUP_TAG)
    return next(((g, m) for g, m in groups if g.name == running), groups[0])


def _build_check(config: Tenant, deployment: Deployment, courier_name: str,
                 groups: list[tuple[CourierGroupSpec, CourierGroupMember]]
                 ) -> AssetChecksDefinition:
    source, courier = config.courier(courier_name)
    blocking = any(m.when_missing == "fail" for _, m in groups)

    @asset_check(
        asset=courier_key(source.name, courier.name), name=CHECK_NAME, blocking=blocking,
        description=f"The courier groups' expected file for `{courier.pattern}` arrived "
                    f"(groups: {', '.join(g.name for g, _ in groups)}).")
    def _arrived(context: AssetCheckExecutionContext) -> AssetCheckResult:
        group, member = _membership(groups, dict(context.run.tags))
        severity = (AssetCheckSeverity.ERROR if member.when_missing == "fail"
                    else AssetCheckSeverity.WARN)
        if member.when_missing == "ignore":
            return AssetCheckResult(passed=True, severity=severity, metadata={
                "when_missing": MetadataValue.text("ignore")})
        reason, meta = missing_reason(context, source, courier, group, deployment)
        meta.update({"group": MetadataValue.text(group.name),
                     "pattern": MetadataValue.text(courier.pattern),
                     "when_missing": MetadataValue.text(member.when_missing)})
        if reason:
            meta["missing"] = MetadataValue.text(reason)
            context.log.warning(reason)
        return AssetCheckResult(passed=reason is None, severity=severity, metadata=meta,
                                description=reason)

    return _arrived


def build_courier_group_checks(config: Tenant, deployment: Deployment
                               ) -> list[AssetChecksDefinition]:
    """A ``files_arrived`` check on each courier that some group watches (not ``ignore``)."""
    by_courier: dict[str, list[tuple[CourierGroupSpec, CourierGroupMember]]] = {}
    for group in config.courier_groups:
        for member in group.couriers:
            by_courier.setdefault(member.courier, []).append((group, member))
    return [_build_check(config, deployment, name, memberships)
            for name, memberships in by_courier.items()
            if any(m.when_missing != "ignore" for _, m in memberships)]
