"""File-arrival sensors: one per remote courier (S3, Azure Blob, SFTP), and one per
event source.

Each tick of a courier's sensor lists the courier's source; files that are new or changed
trigger one run of that courier and everything downstream. The cursor (kept by Dagster,
so it survives restarts) stays bounded: a watermark, the newest modification time seen,
plus ``{relpath: [size, modified]}`` of the files modified within a day before it (a
file listed late, or rewritten, inside that window is still caught), not every file the
bucket ever held. While a run of the courier is queued or going, ticks start nothing and
leave the cursor alone: the files that arrive meanwhile go to one run after it. The run
key is derived from the new files, so a repeated tick never starts a second run.

An event source's sensor watches the collector's closed landing files and starts a
micro-batch load of the source's tables (nothing downstream: Stitch does not run per
batch). Its cursor is a watermark, the newest closed file, plus the names closed within
a look-back window before it (a file renamed just after a listing has an older name).
A load still running holds the next one back; a load that left files waiting triggers
the next one. While `cdp collect load --follow` runs (events/follow.py: one Spark session,
a load every few seconds), the sensor stands down.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations.
import hashlib
import json
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.events.follow import follower_alive
from cdp_pipelines.events.journal import closed_at, closed_files
from cdp_pipelines.keys import (
    COURIER_TAG,
    DELIVERIES_GROUP,
    EVENT_SOURCE_TAG,
    TRIGGER_TAG,
    courier_key,
    domain_key,
)
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import REMOTE_FILE_TYPES, make_courier
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import CourierSpec, SourceSpec

MINIMUM_INTERVAL_SECONDS = 120
# Events are loaded in micro-batches: an acknowledged event reaches its table in seconds.
EVENT_INTERVAL_SECONDS = 10
EVENT_LOOKBACK = timedelta(minutes=2)
# How far before the newest file a courier's cursor still remembers files by name.
FILE_LOOKBACK = timedelta(days=1)
_ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
           DagsterRunStatus.STARTED]


def _active_run(context: SensorEvaluationContext, tag: str, value: str):
    """A queued or running run tagged ``tag=value``, if any."""
    runs = context.instance.get_runs(RunsFilter(tags={tag: value}, statuses=_ACTIVE), limit=1)
    return runs[0] if runs else None


def sensor_name(courier: CourierSpec) -> str:
    return f"courier_{courier.name}_file_arrival"


def new_files(cursor: str | None, current: dict[str, list]) -> tuple[list[str], str]:
    """Files new or changed since ``cursor`` and the next cursor; ``current`` maps each
    listed path to ``[size, modified]``, modified an ISO 8601 UTC timestamp."""
    state = json.loads(cursor) if cursor else {}
    if "through" not in state:
        # The cursor of earlier versions: every file listed, no watermark.
        state = {"through": max((m for _, m in state.values()), default=""), "recent": state}
    through, recent = state["through"], state["recent"]
    horizon = _shifted(through, -FILE_LOOKBACK) if through else ""
    fresh = sorted(path for path, (size, modified) in current.items()
                   if modified > through
                   or (modified >= horizon and recent.get(path) != [size, modified]))
    newest = max([through, *(modified for _, modified in current.values())])
    keep = _shifted(newest, -FILE_LOOKBACK) if newest else ""
    window = {path: seen for path, seen in {**recent, **current}.items() if seen[1] >= keep}
    return fresh, json.dumps({"through": newest, "recent": window}, sort_keys=True)


def _shifted(timestamp: str, delta: timedelta) -> str:
    return _utc(datetime.fromisoformat(timestamp) + delta)


def _utc(moment: datetime) -> str:
    """One spelling for every store's timestamps, so they compare as strings."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def build_file_arrival_sensor(source: SourceSpec, courier: CourierSpec,
                              deployment: Deployment) -> SensorDefinition:

    @sensor(
        name=sensor_name(courier),
        # Deliveries belong to orchestrations, as for courier-group jobs.
        asset_selection=AssetSelection.assets(courier_key(source.name, courier.name)).downstream()
        - AssetSelection.groups(DELIVERIES_GROUP),
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=(DefaultSensorStatus.STOPPED if deployment.is_sandbox
                        else DefaultSensorStatus.RUNNING),
        description=f"Runs courier {courier.name} and everything downstream when a file "
                    f"matching `{courier.pattern}` arrives or changes ({courier.type}).",
    )
    def _arrivals(context: SensorEvaluationContext):
        running = _active_run(context, COURIER_TAG, courier.name)
        if running:
            return SkipReason(f"run {running.run_id} of courier {courier.name} is not done; "
                              "files arriving meanwhile go to one run after it")
        remote = make_courier(courier)
        try:
            found = remote.list()
        finally:
            remote.close()
        current = {f.relpath: [f.size, _utc(f.modified)] for f in found}
        fresh, cursor = new_files(context.cursor, current)
        context.update_cursor(cursor)
        if not fresh:
            return SkipReason(f"no new or changed file matching {courier.pattern!r} "
                              f"({len(current)} listed)")
        key = hashlib.sha256(json.dumps({p: current[p] for p in fresh}, sort_keys=True)
                             .encode()).hexdigest()[:32]
        context.log.info(f"courier {courier.name}: {len(fresh)} new/changed file(s): "
                         f"{fresh[:20]}")
        return RunRequest(run_key=f"{courier.name}-{key}",
                          tags={TRIGGER_TAG: "file_arrival", COURIER_TAG: courier.name})

    return _arrivals


def event_sensor_name(source: str) -> str:
    return f"events_{source}_landed"


def closed_since(cursor: str | None, names: list[str]) -> tuple[list[str], str]:
    """Closed landing files not seen before (``names`` sorted), and the next cursor."""
    state = json.loads(cursor) if cursor else {"through": "", "recent": []}
    through, recent = state["through"], set(state["recent"])
    horizon = closed_at(through) - EVENT_LOOKBACK if through else None
    fresh = [n for n in names if n > through
             or (n not in recent and horizon is not None and closed_at(n) >= horizon)]
    newest = max([through, *names])
    keep = closed_at(newest) - EVENT_LOOKBACK if newest else None
    window = sorted(n for n in set(names) | recent if keep is not None and closed_at(n) >= keep)
    return fresh, json.dumps({"through": newest, "recent": window})


def build_event_sensor(source: EventSourceSpec, deployment: Deployment) -> SensorDefinition:
    tables = [domain_key(t) for t in source.tables]

    @sensor(
        name=event_sensor_name(source.name),
        asset_selection=AssetSelection.assets(*tables),
        minimum_interval_seconds=EVENT_INTERVAL_SECONDS,
        default_status=(DefaultSensorStatus.STOPPED if deployment.is_sandbox
                        else DefaultSensorStatus.RUNNING),
        description=f"Loads the closed landing files of event source {source.name} into its "
                    "tables, one micro-batch at a time.",
    )
    def _landed(context: SensorEvaluationContext):
        landing = lake_path(deployment.landing_read_path("events", source.name))
        follower = follower_alive(landing)
        if follower:
            return SkipReason(f"{source.name} is loaded by `cdp collect load --follow` (pid "
                              f"{follower.get('pid')} on {follower.get('host')})")
        running = _active_run(context, EVENT_SOURCE_TAG, source.name)
        if running:
            return SkipReason(f"load run {running.run_id} of {source.name} is not done")
        names = [p.name for p in closed_files(landing)]
        fresh, cursor = closed_since(context.cursor, names)
        latest = context.instance.get_latest_materialization_event(tables[0])
        waiting = 0
        if latest is not None and latest.asset_materialization is not None:
            entry = latest.asset_materialization.metadata.get("files_waiting")
            waiting = int(entry.value) if entry is not None else 0
        context.update_cursor(cursor)
        if not fresh and not waiting:
            return SkipReason(f"no new closed file ({len(names)} in landing)")
        reason = f"{len(fresh)} new file(s)" if fresh else f"{waiting} file(s) waiting"
        context.log.info(f"event source {source.name}: {reason}")
        key = json.loads(cursor)["through"] + (f"-after-{latest.run_id}" if waiting else "")
        return RunRequest(run_key=f"events-{source.name}-{key}",
                          tags={TRIGGER_TAG: "events_landed", EVENT_SOURCE_TAG: source.name})

    return _landed


def build_sensors(config: Tenant, deployment: Deployment) -> list[SensorDefinition]:
    """A file-arrival sensor for every S3, Azure Blob and SFTP courier of the tenant, and
    one for every event source."""
    return [*(build_file_arrival_sensor(source, courier, deployment)
              for source, courier in config.couriers if courier.type in REMOTE_FILE_TYPES),
            *(build_event_sensor(source, deployment) for source in config.event_sources)]
