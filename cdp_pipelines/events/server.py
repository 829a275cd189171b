"""``cdp collect serve``: the collector of the deployment's tenant on uvicorn.

Every uvicorn worker process builds its own collector from the environment
(:func:`app_from_environment`), with its own landing files: workers never share a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from cdp_pipelines.deployment import Deployment, DeploymentError, get_deployment
from cdp_pipelines.events.collector import (
    Collector,
    Limits,
    RollPolicy,
    create_app,
    write_keys,
)
from cdp_pipelines.tenant import ConfigError, Tenant, load_tenant

# The settings `serve` hands its worker processes.
ROLL_SECONDS_ENV = "CDP_COLLECT_ROLL_SECONDS"
ROLL_BYTES_ENV = "CDP_COLLECT_ROLL_BYTES"


def landing_directory(deployment: Deployment, source: str) -> Path:
    return Path(deployment.check_writable(deployment.path("landing", "events", source)))


def build_collector(deployment: Deployment, config: Tenant, roll: RollPolicy = RollPolicy(),
                    limits: Limits = Limits()) -> Collector:
    """The tenant's collector, its write keys read; errors say what to fix."""
    if deployment.is_sandbox:
        raise DeploymentError(f"sandbox {deployment.sandbox!r} replays production's events and "
                              "collects none: run the collector without CDP_SANDBOX")
    if "://" in deployment.lake_root:
        raise DeploymentError(f"the collector syncs landing files to a local disk (or a "
                              f"mounted volume); CDP_LAKE_ROOT is {deployment.lake_root}")
    if not config.event_sources:
        raise ConfigError(f"tenant {config.tenant.name} has no event source: add "
                          "events/<source>.yaml")
    sources = list(config.event_sources)
    return Collector(sources, lambda source: landing_directory(deployment, source),
                     write_keys(sources), limits, roll)


def _roll_from_environment() -> RollPolicy:
    default = RollPolicy()
    return RollPolicy(max_bytes=int(os.environ.get(ROLL_BYTES_ENV, default.max_bytes)),
                      max_seconds=float(os.environ.get(ROLL_SECONDS_ENV, default.max_seconds)))


def app_from_environment() -> FastAPI:
    """uvicorn's app factory: the collector the environment describes."""
    deployment = get_deployment()
    config = load_tenant(deployment.tenant_dir)
    return create_app(build_collector(deployment, config, _roll_from_environment()))


def serve(host: str, port: int, workers: int = 1, roll: RollPolicy = RollPolicy()) -> None:
    """Run the collector until interrupted (SIGINT/SIGTERM close the open files)."""
    import uvicorn

    os.environ[ROLL_SECONDS_ENV] = str(roll.max_seconds)
    os.environ[ROLL_BYTES_ENV] = str(roll.max_bytes)
    deployment = get_deployment()
    # Fail here, with the message, rather than in every worker.
    build_collector(deployment, load_tenant(deployment.tenant_dir), roll)
    uvicorn.run("cdp_pipelines.events.server:app_from_environment", factory=True, host=host,
                port=port, workers=workers, access_log=False, log_level="info")
