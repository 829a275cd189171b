"""A long-lived event loader: ``cdp collect load --follow``.

The event sensor starts one Dagster run per micro-batch, and each run starts its own
Spark: minutes from acknowledgement to row on a small machine. This process keeps one
Spark session and, every few seconds, loads the closed landing files of the tenant's
event sources with the asset's own code (:func:`load_events`: the same dedup by
``messageId``, quarantine and ingest log). Each load that read files is reported to the
Dagster instance as a materialization of the source's tables (a runless event, with the
asset's metadata), so the UI shows their history as for the sensor's runs.

While it runs, it refreshes a heartbeat file in each source's landing directory; a
source's sensor stands down while the heartbeat is fresh and takes over when it stops
(a stopped or killed follower leaves nothing half-done: a file is logged as loaded in
the commit after its rows, and rows are inserted by ``messageId``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.lake_files import LakePath, lake_path
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.privacy import PrivacySpec

log = logging.getLogger(__name__)

HEARTBEAT_FILE = ".follower"
# Each load adds a few small files to each table: the follower compacts its tables (Delta
# OPTIMIZE) this often, so that a table's MERGEs and readers list tens of files, not the
# thousands a day of loads every few seconds would leave.
COMPACT_EVERY_SECONDS = 3600.0
# A heartbeat older than this is a follower that stopped (or died).
HEARTBEAT_STALE_SECONDS = 60.0


def heartbeat_path(landing: LakePath) -> LakePath:
    return landing / HEARTBEAT_FILE


def follower_alive(landing: LakePath, now: float | None = None) -> dict | None:
    """The running follower of a landing directory (its pid and host), or None."""
    path = heartbeat_path(landing)
    try:
        beat = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    return beat if now - float(beat.get("at", 0)) < HEARTBEAT_STALE_SECONDS else None


def _beat(landing: LakePath) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    path = heartbeat_path(landing)
    tmp = path.with_name(f"{HEARTBEAT_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                               "at": time.time()}))
    tmp.replace(path)


@dataclass
class FollowStats:
    loads: int = 0
    files: int = 0
    rows: int = 0
    failures: int = 0
    compactions: int = 0


class Follower:
    """Loads the closed landing files of ``sources`` until :meth:`stop`."""

    def __init__(self, deployment: Deployment, sources: list[EventSourceSpec], lake,
                 instance=None, interval: float = 5.0, max_files: int = 200,
                 compact_every: float = COMPACT_EVERY_SECONDS,
                 privacy: PrivacySpec | None = None):
        self.deployment = deployment
        # Deleted people's messages are dropped as they load (the salt and match keys).
        self.privacy = privacy
        self.sources = sources
        self.lake = lake
        self.instance = instance
        self.interval = interval
        self.max_files = max_files
        self.stats = FollowStats()
        self._stop = threading.Event()
        # Per source, the files loaded: read from the ingest log once, then kept here.
        self._loaded: dict[str, set[str]] = {}
        self.compact_every = compact_every
        # Per source, loads since its tables were last compacted, and when that was.
        self._since_compaction: dict[str, tuple[int, float]] = {}

    def landing(self, source: EventSourceSpec) -> LakePath:
        return lake_path(self.deployment.landing_read_path("events", source.name))

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> FollowStats:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                for source in self.sources:
                    if self._stop.is_set():
                        break
                    _beat(self.landing(source))
                    self.load_once(source)
                    self.compact_if_due(source)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            for source in self.sources:
                heartbeat_path(self.landing(source)).unlink(missing_ok=True)
        return self.stats

    def load_once(self, source: EventSourceSpec) -> int:
        """One load of ``source``; the number of files it read. A failure is logged and
        retried at the next turn (nothing of a failed load is marked loaded)."""
        from cdp_pipelines.events.load import load_events, loaded_files

        run_id = f"follow-{os.getpid()}-{self.stats.loads}"
        try:
            if source.name not in self._loaded:
                self._loaded[source.name] = loaded_files(self.lake, source)
            result = load_events(self.lake, source, self.landing(source), run_id,
                                 self.max_files, self._loaded[source.name], self.privacy)
        except Exception as exc:  # noqa: BLE001 - a follower keeps going; the files wait
            self.stats.failures += 1
            log.warning("event source %s: load failed, retried in %.0f s: %s", source.name,
                        self.interval, str(exc).splitlines()[0] if str(exc) else exc)
            return 0
        self.stats.loads += 1
        if not result.files:
            return 0
        loads, since = self._since_compaction.get(source.name, (0, time.monotonic()))
        self._since_compaction[source.name] = (loads + 1, since)
        self.stats.files += len(result.files)
        self.stats.rows += sum(result.inserted.values())
        log.info("event source %s: %d file(s), %d line(s), %d suppressed (deleted people), "
                 "inserted %s; %d file(s) wait (seconds: %s)", source.name, len(result.files),
                 result.lines, result.suppressed, result.inserted, result.remaining,
                 result.timings)
        if self.instance is not None:
            self._report(source, result, run_id)
        return len(result.files)

    def compact_if_due(self, source: EventSourceSpec, now: float | None = None) -> bool:
        """Compact the source's tables once ``compact_every`` seconds have passed since
        the last compaction with loads in between; a failure is logged and tried later."""
        from cdp_pipelines.tenant.events import TABLE_KINDS

        loads, since = self._since_compaction.get(source.name, (0, time.monotonic()))
        now = time.monotonic() if now is None else now
        if not loads or now - since < self.compact_every:
            return False
        for kind in TABLE_KINDS:
            table = source.table(kind)
            try:
                metrics = self.lake.compact("domain", table)
            except Exception as exc:  # noqa: BLE001 - compaction is an optimisation
                log.warning("event source %s: compacting %s failed, tried again later: %s",
                            source.name, table, str(exc).splitlines()[0] if str(exc) else exc)
                return False
            log.info("event source %s: compacted %s after %d load(s): %s file(s) into %s",
                     source.name, table, loads, metrics.get("numRemovedFiles", 0),
                     metrics.get("numAddedFiles", 0))
        self._since_compaction[source.name] = (0, now)
        self.stats.compactions += 1
        return True

    def _report(self, source: EventSourceSpec, result, run_id: str) -> None:
        from dagster import AssetMaterialization, MetadataValue

        from cdp_pipelines.events.assets import TABLE_KINDS, load_metadata
        from cdp_pipelines.keys import domain_key

        for kind in TABLE_KINDS:
            metadata = {**load_metadata(result, kind), "loaded_by": MetadataValue.text(
                f"cdp collect load --follow ({run_id})")}
            self.instance.report_runless_asset_event(AssetMaterialization(
                asset_key=domain_key(source.table(kind)), metadata=metadata))

def follow(sources: list[str] | None = None, interval: float = 5.0,
           once: bool = False) -> FollowStats:
    """Run a follower for the deployment's event sources (all, or those named) until
    SIGINT or SIGTERM; ``once``: one load of each source."""
    from dagster import DagsterInstance

    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource
    from cdp_pipelines.tenant import load_tenant

    deployment = get_deployment()
    config = load_tenant(deployment.tenant_dir)
    chosen = [s for s in config.event_sources if not sources or s.name in sources]
    unknown = sorted(set(sources or ()) - {s.name for s in config.event_sources})
    if unknown or not chosen:
        known = ", ".join(s.name for s in config.event_sources) or "none"
        raise ValueError(f"no event source {', '.join(unknown) or 'configured'} in "
                         f"{deployment.tenant_dir}/events/ (event sources: {known})")
    lake = DeltaLake.for_deployment(SparkResource.for_deployment(deployment), deployment,
                                    config.pii_fields)
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    follower = Follower(deployment, chosen, lake, instance, interval, privacy=config.privacy)
    if once:
        for source in chosen:
            follower.load_once(source)
        return follower.stats
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: follower.stop())
    log.info("following event sources %s every %.0f s", [s.name for s in chosen], interval)
    return follower.run()
