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
from cdp_pipelines.resources.lake_files import is_object_store, lake_path
from cdp_pipelines.tenant import ConfigError, Tenant, load_tenant

# The settings `serve` hands its worker processes.
ROLL_SECONDS_ENV = "CDP_COLLECT_ROLL_SECONDS"
ROLL_BYTES_ENV = "CDP_COLLECT_ROLL_BYTES"
# Where a collector keeps its journal when the lake is on object storage: a local disk
# (a persistent volume in a container) from which closed files are shipped to the lake.
SPOOL_ENV = "CDP_COLLECT_SPOOL"


def landing_directory(deployment: Deployment, source: str) -> Path:
    return Path(deployment.check_writable(deployment.path("landing", "events", source)))


def spool_directory(deployment: Deployment) -> Path:
    """The local spool of a collector whose lake is on object storage
    (``CDP_COLLECT_SPOOL``); refused when unset, or when it is itself a URI."""
    where = deployment.collect_spool
    if not where:
        raise DeploymentError(
            f"CDP_LAKE_ROOT is on object storage ({deployment.lake_root}), where files cannot "
            f"be appended to: set {SPOOL_ENV} (or `cdp collect serve --spool`) to a local "
            "directory on a persistent disk; the collector journals events there and ships "
            "each closed file to the lake's landing/events/<source>/")
    if "://" in str(where):
        raise DeploymentError(f"{SPOOL_ENV} is {where}: the spool must be a local directory "
                              "(events are synced to it before they are acknowledged)")
    return Path(where).expanduser().absolute()


def build_collector(deployment: Deployment, config: Tenant, roll: RollPolicy = RollPolicy(),
                    limits: Limits = Limits()) -> Collector:
    """The tenant's collector, its write keys read; errors say what to fix. On a lake on
    object storage its journals are in the spool (see :func:`spool_directory`), shipped to
    the lake as they close."""
    if deployment.is_sandbox:
        raise DeploymentError(f"sandbox {deployment.sandbox!r} replays production's events and "
                              "collects none: run the collector without CDP_SANDBOX")
    if not config.event_sources:
        raise ConfigError(f"tenant {config.tenant.name} has no event source: add "
                          "events/<source>.yaml")
    sources = list(config.event_sources)
    keys = write_keys(sources)
    if not is_object_store(deployment.lake_root):
        return Collector(sources, lambda source: landing_directory(deployment, source),
                         keys, limits, roll)
    directory = spool_directory(deployment)
    return Collector(sources, lambda source: directory / source, keys, limits, roll,
                     ship_to=lambda source: lake_path(deployment.path("landing", "events",
                                                                      source)))


def _roll_from_environment() -> RollPolicy:
    default = RollPolicy()
    return RollPolicy(max_bytes=int(os.environ.get(ROLL_BYTES_ENV, default.max_bytes)),
                      max_seconds=float(os.environ.get(ROLL_SECONDS_ENV, default.max_seconds)))


def app_from_environment() -> FastAPI:
    """uvicorn's app factory: the collector the environment describes."""
    deployment = get_deployment()
    config = load_tenant(deployment.tenant_dir)
    return create_app(build_collector(deployment, config, _roll_from_environment()))


def serve(host: str, port: int, workers: int = 1, roll: RollPolicy = RollPolicy(),
          spool: str | None = None) -> None:
    """Run the collector until interrupted (SIGINT/SIGTERM close the open files)."""
    import uvicorn

    os.environ[ROLL_SECONDS_ENV] = str(roll.max_seconds)
    os.environ[ROLL_BYTES_ENV] = str(roll.max_bytes)
    if spool:
        os.environ[SPOOL_ENV] = str(spool)
    deployment = get_deployment()
    # Fail here, with the message, rather than in every worker.
    build_collector(deployment, load_tenant(deployment.tenant_dir), roll)
    uvicorn.run("cdp_pipelines.events.server:app_from_environment", factory=True, host=host,
                port=port, workers=workers, access_log=False, log_level="info")
