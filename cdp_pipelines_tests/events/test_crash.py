"""SIGKILL the collector (`cdp collect serve`) while Segment's library is sending,
restart it, let the library retry: every acknowledged event is on disk, and once in the
domain table."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import requests
from dagster import AssetKey, DagsterInstance, materialize

from cdp_pipelines.definitions import build_definitions
from cdp_pipelines.events.journal import OPEN_SUFFIX
from cdp_pipelines_tests.conftest import free_port
from cdp_pipelines_tests.events.conftest import WEB_KEY, read_records, wait_until

EVENTS = 3000


class _RetryLog(logging.Handler):
    """Counts the retries Segment's library logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retry" in record.getMessage().lower()


def _start(env: dict[str, str], port: int, log: Path,
           more: list[str] = ()) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_pipelines.cli", "collect", "serve", "--port", str(port),
         "--roll-seconds", "1", *more], env=env, stdout=log.open("ab"),
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the collector did not start: {log.read_text()}")


def sigkill_while_sending(env: dict[str, str], port: int, log: Path, sent: list[str],
                          until: Callable[[], bool], journal: Path, serve: list[str] = (),
                          threads: int = 3) -> int:
    """`cdp collect serve` killed with SIGKILL while Segment's library sends ``sent`` (a
    steady stream, about three seconds for 3,000), once ``until()``; restarted at once, and
    stopped gracefully once the library has flushed. Asserts the process died with a file
    open in ``journal`` and that the library gave up on no batch; returns how many times
    it logged a retry."""
    from segment.analytics import Client

    collector = _start(env, port, log, serve)
    errors: list = []
    client = Client(write_key=WEB_KEY, host=f"http://127.0.0.1:{port}", upload_size=50,
                    upload_interval=0.01, thread=threads, max_queue_size=len(sent),
                    on_error=lambda error, batch: errors.append(error))

    def send() -> None:
        for i, message_id in enumerate(sent):
            client.track(f"user-{i % 50}", "Product Viewed", {"sku": f"S{i % 9}"},
                         message_id=message_id)
            if i % 20 == 0:
                time.sleep(0.02)

    retries = _RetryLog()
    logging.getLogger("segment").addHandler(retries)
    logging.getLogger("segment").setLevel(logging.DEBUG)
    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(until, "events before the kill", seconds=60, poll=0.02)
        collector.send_signal(signal.SIGKILL)
        collector.wait()
        assert list(journal.glob(f"*{OPEN_SUFFIX}")), "killed with a file open"
        collector = _start(env, port, log, serve)
        sender.join()
        client.flush()
        client.shutdown()
    finally:
        # A graceful stop (uvicorn re-raises SIGTERM once the files are closed).
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)
        logging.getLogger("segment").removeHandler(retries)
    assert errors == [], "the library gave up on a batch"
    return retries.count


def test_sigkill_loses_no_acknowledged_event(event_env, tmp_path: Path, spark):
    landing = Path(event_env["CDP_LAKE_ROOT"]) / "prod" / "landing" / "events" / "web"
    sent = [f"m-{i:05d}" for i in range(EVENTS)]
    retries = sigkill_while_sending(
        event_env, free_port(), tmp_path / "collector.log", sent,
        until=lambda: len(read_records(landing)) >= EVENTS // 3, journal=landing)
    assert retries, "the library had to retry"

    landed = [r["messageId"] for r in read_records(landing)]
    assert set(landed) == set(sent) and not list(landing.glob(f"*{OPEN_SUFFIX}"))
    print(f"{len(landed) - len(sent)} message(s) written twice: unacknowledged, then retried")

    defs = build_definitions(event_env)
    result = materialize(list(defs.assets), resources=defs.resources,
                         selection=[AssetKey(["domain", f"web_{kind}"]) for kind in
                                    ("events", "identifies", "aliases", "failed_events")],
                         instance=DagsterInstance.ephemeral())
    assert result.success
    rows = spark.read.format("delta").load(
        str(Path(event_env["CDP_LAKE_ROOT"]) / "prod" / "domain" / "web_events"))
    assert sorted(r["message_id"] for r in rows.select("message_id").collect()) == sent
