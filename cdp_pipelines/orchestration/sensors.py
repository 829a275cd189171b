"""File-arrival sensors: one per remote courier (S3, Azure Blob, SFTP).

Each tick lists the courier's source. The cursor (kept by Dagster, so it survives
restarts) is JSON ``{relpath: [size, modified]}`` of the files seen last time; a file
that is new or changed triggers one run of that courier and everything downstream.
The run key is derived from the new files, so a repeated tick never starts a second run.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations.
import hashlib
import json

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import COURIER_TAG, DELIVERIES_GROUP, TRIGGER_TAG, courier_key
from cdp_pipelines.sources.couriers import REMOTE_FILE_TYPES, make_courier
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import CourierSpec, SourceSpec

MINIMUM_INTERVAL_SECONDS = 120


def sensor_name(courier: CourierSpec) -> str:
    return f"courier_{courier.name}_file_arrival"


def new_files(cursor: str | None, current: dict[str, list]) -> list[str]:
    seen = json.loads(cursor) if cursor else {}
    return sorted(path for path, state in current.items() if seen.get(path) != state)


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
        remote = make_courier(courier)
        try:
            found = remote.list()
        finally:
            remote.close()
        current = {f.relpath: [f.size, f.modified.isoformat()] for f in found}
        fresh = new_files(context.cursor, current)
        context.update_cursor(json.dumps(current, sort_keys=True))
        if not fresh:
            return SkipReason(f"no new or changed file matching {courier.pattern!r} "
                              f"({len(current)} seen)")
        key = hashlib.sha256(json.dumps({p: current[p] for p in fresh}, sort_keys=True)
                             .encode()).hexdigest()[:32]
        context.log.info(f"courier {courier.name}: {len(fresh)} new/changed file(s): "
                         f"{fresh[:20]}")
        return RunRequest(run_key=f"{courier.name}-{key}",
                          tags={TRIGGER_TAG: "file_arrival", COURIER_TAG: courier.name})

    return _arrivals


def build_sensors(config: Tenant, deployment: Deployment) -> list[SensorDefinition]:
    """A file-arrival sensor for every S3, Azure Blob and SFTP courier of the tenant."""
    return [build_file_arrival_sensor(source, courier, deployment)
            for source, courier in config.couriers if courier.type in REMOTE_FILE_TYPES]
