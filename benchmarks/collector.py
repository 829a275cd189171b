"""Collector benchmark: many concurrent clients drive ``/v1/batch`` (100 realistic events a
batch, checked against a tracking plan) for a fixed time; prints accepted events/s,
p50/p99 latency, the collector's CPU and memory, then loads the landing files into the
Delta events table and checks that it holds exactly the acknowledged events.

    .venv/bin/python benchmarks/collector.py [--seconds 30] [--clients 16] [--workers 1]

The collector is ``cdp collect serve`` in its own process (uvicorn); the clients are raw
HTTP/1.1 keep-alive connections on one asyncio loop in this process, so that the client
costs as little CPU as it can on a machine it shares with the server. The machine's load
average is printed: other work on it shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import PeakMemory  # noqa: E402

WRITE_KEY = "bench-write-key"
PLAN = {
    "description": "Benchmark web source",
    "write_keys": [{"name": "browser", "key_env": "CDP_BENCH_WRITE_KEY"}],
    "on_violation": "block",
    "allow_unplanned_events": False,
    "identify": {"traits": {"type": "object", "properties": {
        "email": {"type": "string", "format": "email"}, "firstName": {"type": "string"},
        "lastName": {"type": "string"}}}},
    "events": [
        {"name": name, "properties": {"type": "object", "properties": {
            "product_id": {"type": "string"}, "sku": {"type": "string"},
            "category": {"type": "string"}, "name": {"type": "string"},
            "brand": {"type": "string"}, "variant": {"type": "string"},
            "price": {"type": "number", "minimum": 0}, "quantity": {"type": "integer"},
            "currency": {"type": "string", "enum": ["USD", "EUR"]},
            "url": {"type": "string"}, "order_id": {"type": "string"},
            "revenue": {"type": "number"}}, "required": ["product_id"]}}
        for name in ("Product Viewed", "Product Added", "Order Completed")],
}


def _event(i: int) -> dict:
    """One message as analytics.js sends it (about 900 bytes); the mix of a shop."""
    kind = ("page" if i % 7 == 0 else "identify" if i % 25 == 1 else
            "Order Completed" if i % 97 == 2 else "Product Added" if i % 9 == 3
            else "Product Viewed")
    message = {
        "messageId": f"@@ID@@-{i:03d}", "anonymousId": f"anon-@@ID@@-{i % 7}",
        "timestamp": "2026-11-30T10:00:00.000Z", "sentAt": "2026-11-30T10:00:01.000Z",
        "context": {"library": {"name": "analytics.js", "version": "4.1.0"},
                    "page": {"path": f"/p/{i}", "referrer": "https://www.google.com/",
                             "title": "Trail Runner 2", "url": f"https://shop.example.com/p/{i}"},
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
                                 "like Gecko) Chrome/131.0 Safari/537.36",
                    "ip": "203.0.113.9", "locale": "en-US",
                    "campaign": {"source": "newsletter", "medium": "email", "name": "bf26"}},
    }
    if kind == "page":
        return {**message, "type": "page", "name": "Product", "properties": {"path": f"/p/{i}"}}
    if kind == "identify":
        return {**message, "type": "identify", "userId": f"u-@@ID@@-{i}", "traits": {
            "email": f"person{i}@example.com", "firstName": "Ann", "lastName": "Lee"}}
    return {**message, "type": "track", "event": kind, "properties": {
        "product_id": f"P{i % 500}", "sku": f"SKU-{i % 500}", "category": "Shoes",
        "name": "Trail Runner 2", "brand": "Acme", "variant": "Blue", "price": 89.99,
        "quantity": 1, "currency": "USD", "url": f"https://shop.example.com/p/{i}",
        **({"order_id": "o-@@ID@@", "revenue": 89.99} if kind == "Order Completed" else {})}}


def batch_template(size: int) -> bytes:
    return json.dumps({"batch": [_event(i) for i in range(size)]}).encode()


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.accepted = 0
        self.failed: dict[int, int] = {}


async def _client(number: int, port: int, template: bytes, size: int, deadline: float,
                  stats: Stats) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = base64.b64encode(f"{WRITE_KEY}:".encode())
    sequence = 0
    while time.monotonic() < deadline:
        body = template.replace(b"@@ID@@", f"c{number:03d}r{sequence:07d}".encode())
        sequence += 1
        started = time.perf_counter()
        writer.write(b"POST /v1/batch HTTP/1.1\r\nHost: bench\r\nAuthorization: Basic " + auth
                     + b"\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        stats.latencies.append(time.perf_counter() - started)
        if status == 200:
            stats.accepted += size
        else:
            stats.failed[status] = stats.failed.get(status, 0) + 1
    writer.close()


async def drive(port: int, clients: int, size: int, seconds: float) -> Stats:
    stats, template = Stats(), batch_template(size)
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(n, port, template, size, deadline, stats)
                           for n in range(clients)))
    return stats


def _tenant(root: Path) -> Path:
    import yaml

    tenant = root / "tenant"
    (tenant / "events").mkdir(parents=True)
    (tenant / "tenant.yaml").write_text("name: bench\n")
    (tenant / "events" / "web.yaml").write_text(yaml.safe_dump(PLAN, sort_keys=False))
    return tenant


def start_collector(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    import requests

    process = subprocess.Popen(
        [sys.executable, "-m", "cdp_pipelines.cli", "collect", "serve", "--port", str(port),
         "--workers", str(workers), "--roll-seconds", "5"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the collector did not start: {log.read_text()}")


def _cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def count_in_lake(lake_root: Path) -> tuple[int, int, float]:
    """(rows in web_events, blocked rows, seconds) after loading every landing file."""
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.events.load import load_events
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource
    from cdp_pipelines.tenant.events import EventSourceSpec

    spark = SparkResource(master="local[2]", shuffle_partitions=4, driver_memory="2g")
    deployment = Deployment(lake_root=str(lake_root))
    lake = DeltaLake.for_deployment(spark, deployment)
    source = EventSourceSpec.model_validate({**PLAN, "name": "web"})
    started = time.perf_counter()
    load_events(lake, source, Path(deployment.path("landing", "events", "web")), "bench",
                max_files=100_000)
    seconds = time.perf_counter() - started
    blocked = (lake.read("domain", "web_failed_events").count()
               if lake.exists("domain", "web_failed_events") else 0)
    return lake.read("domain", "web_events").count(), blocked, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-collector-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "CDP_TENANT_DIR": str(_tenant(root)),
               "CDP_LAKE_ROOT": str(root / "lake"), "CDP_BENCH_WRITE_KEY": WRITE_KEY}
        env.pop("CDP_SANDBOX", None)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"{args.clients} clients, {args.batch} events a batch, {args.workers} worker(s), "
              f"{len(batch_template(args.batch)) // args.batch} bytes an event")
        server = start_collector(env, args.port, args.workers, root / "collector.log")
        collector = psutil.Process(server.pid)
        me = psutil.Process()
        try:
            with PeakMemory(server.pid, interval=0.2) as memory:
                cpu_server, cpu_client = _cpu_seconds(collector), _cpu_seconds(me)
                started = time.perf_counter()
                stats = asyncio.run(drive(args.port, args.clients, args.batch, args.seconds))
                wall = time.perf_counter() - started
                cpu_server = _cpu_seconds(collector) - cpu_server
                cpu_client = _cpu_seconds(me) - cpu_client
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print(f"accepted {stats.accepted:,} events in {wall:.1f} s: "
              f"{stats.accepted / wall:,.0f} events/s ({len(stats.latencies):,} requests, "
              f"failed: {stats.failed or 'none'})")
        print(f"latency p50 {_percentile(stats.latencies, .5) * 1000:.1f} ms, "
              f"p99 {_percentile(stats.latencies, .99) * 1000:.1f} ms, "
              f"max {max(stats.latencies, default=0) * 1000:.1f} ms")
        print(f"collector CPU {cpu_server / wall:.2f} cores, peak memory "
              f"{memory.peak_bytes / 2**20:,.0f} MiB; client CPU {cpu_client / wall:.2f} cores")
        rows, blocked, seconds = count_in_lake(root / "lake")
        print(f"in the lake: {rows:,} events (+ {blocked:,} blocked) loaded in {seconds:.1f} s; "
              f"acknowledged {stats.accepted:,}: "
              f"{'equal' if rows + blocked == stats.accepted else 'MISMATCH'}")


if __name__ == "__main__":
    main()
