"""Acknowledgement-to-row latency with the sensor running: a steady stream of batches
goes to the collector while ``dagster-daemon`` runs the event source's sensor, which
starts a load run for each micro-batch of closed landing files. For every batch, the
latency is from its acknowledgement to the Delta commit that made its rows readable.

    .venv/bin/python benchmarks/event_latency.py [--minutes 3] [--rate 1000] [--follow]

By default the sensor loads: runs use the instance's default launcher, a new process per
run, which starts its own Spark. With --follow, `cdp collect load --follow` loads instead
(one process, one Spark session, a load every --interval seconds) and the sensor stands
down; sending starts once the follower's first load has made the tables. The machine's load average is printed: other work on it shares the cores.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collector import WRITE_KEY, _percentile, _tenant, batch_template, start_collector  # noqa: E402


def send_steadily(port: int, rate: float, minutes: float, size: int) -> dict[str, float]:
    """Batch prefix -> the time its acknowledgement arrived."""
    import requests

    template = batch_template(size)
    session = requests.Session()
    headers = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
               "Content-Type": "application/json"}
    acked: dict[str, float] = {}
    interval, deadline = size / rate, time.monotonic() + minutes * 60
    number, next_at = 0, time.monotonic()
    while time.monotonic() < deadline:
        prefix = f"lat{number:07d}"
        response = session.post(f"http://127.0.0.1:{port}/v1/batch", headers=headers,
                                data=template.replace(b"@@ID@@", prefix.encode()), timeout=30)
        if response.status_code == 200:
            acked[prefix] = time.time()
        number += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return acked


def commit_times(lake_root: Path, expected: int, wait_minutes: float) -> dict[str, float]:
    """Batch prefix -> the commit time of the Delta version that first held its rows,
    waiting until the table holds ``expected`` rows."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from cdp_pipelines.resources.spark import build_spark_session

    spark = build_spark_session("local[2]", shuffle_partitions=2, driver_memory="1g")
    path = str(lake_root / "prod" / "domain" / "web_events")
    deadline = time.monotonic() + wait_minutes * 60
    while time.monotonic() < deadline:
        if DeltaTable.isDeltaTable(spark, path) and \
                spark.read.format("delta").load(path).count() >= expected:
            break
        time.sleep(10)
    history = {r["version"]: r["timestamp"].timestamp()
               for r in DeltaTable.forPath(spark, path).history().collect()}
    first: dict[str, float] = {}
    for version in sorted(history):
        prefixes = (spark.read.format("delta").option("versionAsOf", version).load(path)
                    .select(F.split("message_id", "-")[0].alias("p")).distinct().collect())
        for row in prefixes:
            first.setdefault(row["p"], history[version])
    return first


def _wait_for(path: Path, process: subprocess.Popen, minutes: float) -> None:
    deadline = time.monotonic() + minutes * 60
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the loader did not make {path} (exit {process.poll()})")
        time.sleep(1)


def run_durations(home: Path) -> list[float]:
    """Seconds from launch to end of every run the sensor started."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
        return [r.end_time - r.create_timestamp.timestamp() for r in records if r.end_time]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--rate", type=float, default=1000, help="events a second")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--port", type=int, default=18091)
    parser.add_argument("--follow", action="store_true",
                        help="load with `cdp collect load --follow` instead of the sensor")
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-latency-") as tmp:
        root = Path(tmp)
        home = root / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "CDP_TENANT_DIR": str(_tenant(root)),
               "CDP_LAKE_ROOT": str(root / "lake"), "CDP_BENCH_WRITE_KEY": WRITE_KEY,
               "DAGSTER_HOME": str(home)}
        env.pop("CDP_SANDBOX", None)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"{args.rate:.0f} events/s for {args.minutes} min")
        collector = start_collector(env, args.port, 1, root / "collector.log")
        loader = ([str(Path(sys.executable).with_name("cdp")), "collect", "load", "--follow",
                   "--interval", str(args.interval)] if args.follow else
                  [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m",
                   "cdp_pipelines.definitions"])
        daemon = subprocess.Popen(loader, env=env, cwd=root,
                                  stdout=(root / "loader.log").open("ab"),
                                  stderr=subprocess.STDOUT)
        try:
            if args.follow:
                # Steady state: the follower's Spark is up once its first (empty) load has
                # made the tables; its start-up is not an event's latency.
                _wait_for(root / "lake" / "prod" / "domain" / "web_events" / "_delta_log",
                          daemon, minutes=10)
            acked = send_steadily(args.port, args.rate, args.minutes, args.batch)
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=60)
            committed = commit_times(root / "lake", len(acked) * args.batch, wait_minutes=10)
        finally:
            if collector.poll() is None:
                collector.send_signal(signal.SIGTERM)
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        latencies = [committed[p] - t for p, t in acked.items() if p in committed]
        runs = run_durations(home)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print(f"{len(acked)} batches acknowledged, {len(latencies)} found in the table; "
              f"ack-to-row p50 {_percentile(latencies, .5):.1f} s, "
              f"p95 {_percentile(latencies, .95):.1f} s, max {max(latencies, default=0):.1f} s")
        if args.follow:
            loads = [line for line in (root / "loader.log").read_text().splitlines()
                     if "event source" in line]
            print(f"{len(loads)} follower loads; the last ones:", *loads[-5:], sep="\n  ")
        else:
            print(f"{len(runs)} load runs; each from launch to end: "
                  f"p50 {_percentile(runs, .5):.0f} s, max {max(runs, default=0):.0f} s")


if __name__ == "__main__":
    main()
