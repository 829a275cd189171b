"""Event tests: a copy of the tiny tenant with the `web` event source, and its collector
running on real HTTP (uvicorn in a thread, or `cdp collect serve` in a process)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdp_pipelines_tests.conftest import TINY_TENANT, free_port

HERE = Path(__file__).resolve().parent
WEB_KEY = "web-test-key"
BACKEND_KEY = "backend-test-key"


@pytest.fixture
def event_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tenant = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, tenant)
    (tenant / "events").mkdir()
    shutil.copy(HERE / "web.yaml", tenant / "events" / "web.yaml")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "backend.key").write_text(BACKEND_KEY + "\n")
    monkeypatch.setenv("CDP_TEST_WEB_KEY", WEB_KEY)
    monkeypatch.setenv("CDP_TEST_KEY_DIR", str(keys))
    return tenant


@pytest.fixture
def event_env(tmp_path: Path, event_tenant: Path) -> dict[str, str]:
    env = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path / "lake"),
           "CDP_TENANT_DIR": str(event_tenant)}
    env.pop("CDP_SANDBOX", None)
    return env


@dataclass
class RunningCollector:
    url: str
    landing: Path

    def records(self) -> list[dict]:
        """Every record written so far, open files included."""
        return read_records(self.landing)


def read_records(landing: Path) -> list[dict]:
    """Every whole line of the landing files, open ones included (a line being written
    may be read in part: it is left out)."""
    while True:
        try:
            out = []
            for path in sorted(landing.glob("*.jsonl*")):
                lines = path.read_bytes().split(b"\n")[:-1]
                out += [json.loads(line) for line in lines if line]
            return out
        except FileNotFoundError:
            continue  # closed (renamed) between the listing and the read: list again


def wait_until(condition, what: str, seconds: float = 30.0, poll: float = 0.1) -> None:
    """Until ``condition()`` holds; fails naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


class ThreadedServer:
    """An ASGI app on uvicorn in a thread of the test process, on real HTTP."""

    def __init__(self, app, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the collector did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def collector(event_env: dict[str, str]) -> Iterator[RunningCollector]:
    """The tenant's collector; files roll after a second so tests see closed files."""
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.events.collector import RollPolicy, create_app
    from cdp_pipelines.events.server import build_collector, landing_directory
    from cdp_pipelines.tenant import load_tenant

    deployment = get_deployment(event_env)
    config = load_tenant(deployment.tenant_dir, env=event_env)
    app = create_app(build_collector(deployment, config, RollPolicy(max_seconds=1.0)))
    port = free_port()
    with ThreadedServer(app, port):
        yield RunningCollector(f"http://127.0.0.1:{port}", landing_directory(deployment, "web"))
