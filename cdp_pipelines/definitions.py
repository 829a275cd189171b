"""Load the tenant's configuration and build the Dagster Definitions. Nothing else."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import Definitions, define_asset_job, in_process_executor

from cdp_pipelines.activation.audience_assets import build_audience_assets
from cdp_pipelines.customer360.assets import build_c360_assets
from cdp_pipelines.deployment import get_deployment
from cdp_pipelines.events.assets import build_all_event_assets
from cdp_pipelines.governance.privacy.assets import build_privacy_assets
from cdp_pipelines.keys import courier_group_job_name
from cdp_pipelines.orchestration.courier_groups import (
    build_courier_group_checks,
    build_schedules,
)
from cdp_pipelines.orchestration.orchestrations import (
    build_delivery_assets,
    build_orchestration_triggers,
)
from cdp_pipelines.orchestration.sensors import build_sensors
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.resources.trino import TrinoResource
from cdp_pipelines.sources.assets import build_source_assets
from cdp_pipelines.stitch.assets import build_stitch_assets
from cdp_pipelines.stitch.events import build_unified_events_assets
from cdp_pipelines.stitch.qa import build_stitch_qa_checks
from cdp_pipelines.tenant import load_tenant

ALL_ASSETS_JOB = "cdp_all"


def build_definitions(env: Mapping[str, str] | None = None) -> Definitions:
    """Definitions for the deployment and tenant that ``env`` (default: os.environ) names."""
    env = dict(os.environ if env is None else env)
    deployment = get_deployment(env)
    config = load_tenant(deployment.tenant_dir, env=env)
    spark = SparkResource.for_deployment(deployment)
    assets = [
        *build_source_assets(config, deployment),
        *build_all_event_assets(config, deployment),
        *build_stitch_assets(config, deployment),
        *build_unified_events_assets(config),
        *build_privacy_assets(config, deployment),
        *build_c360_assets(config, deployment),
        *build_audience_assets(config, deployment),
        *build_delivery_assets(config, deployment, config.tenant.timezone),
    ]
    group_schedules = build_schedules(config, deployment)
    jobs_by_name = {s.job_name: s.job for s in group_schedules}
    group_jobs = {g.name: jobs_by_name[courier_group_job_name(g.name)]
                  for g in config.courier_groups}
    jobs, orchestration_schedules, orchestration_sensors = build_orchestration_triggers(
        config, deployment, group_jobs)
    trino = TrinoResource.for_deployment(deployment, env=env)
    return Definitions(
        assets=assets,
        jobs=[define_asset_job(ALL_ASSETS_JOB, selection="*",
                               description="Materialize every asset of the tenant."), *jobs],
        asset_checks=[*build_courier_group_checks(config, deployment),
                      *build_stitch_qa_checks(config.stitch.qa)],
        schedules=[*group_schedules, *orchestration_schedules],
        sensors=[*build_sensors(config, deployment), *orchestration_sensors],
        resources={"spark": spark, "lake": DeltaLake.for_deployment(
            spark, deployment, config.pii_fields), "trino": trino},
        # One process per run: the assets of a run share one Spark session.
        executor=in_process_executor,
    )


defs = build_definitions()
