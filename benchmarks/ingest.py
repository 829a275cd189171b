"""Ingest benchmark: rows/s and peak memory for loading CSV and Parquet files into a
domain table with ``domain.load_files`` (read, type, quarantine, Delta MERGE, ingest log).

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--master local[2]]

Peak memory is sampled (every 0.2 s) as the resident memory of this Python process plus
its children (the Spark driver JVM and Python workers).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil

from cdp_pipelines.tenant.sources import FeedSpec, FieldSpec, FormatSpec

FEED = FeedSpec(name="bench_customers", courier="bench", primary_key=("customer_id",),
                fields=(FieldSpec(name="customer_id", tags=("pk",)),
                        FieldSpec(name="first_name", source_column="First Name"),
                        FieldSpec(name="last_name", source_column="Last Name"),
                        FieldSpec(name="email", tags=("email",)),
                        FieldSpec(name="birthdate", type="date", format="MM/dd/yyyy"),
                        FieldSpec(name="points", type="int"),
                        FieldSpec(name="updated_at", type="timestamp", tags=("updated-at",))))
COLUMNS = ["customer_id", "First Name", "Last Name", "email", "birthdate", "points",
           "updated_at"]


def write_inputs(rows: int, where: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    ids = pa.array([f"c{i:08d}" for i in range(rows)])
    table = pa.table({
        "customer_id": ids,
        "First Name": pa.array([f"Given{i % 5000}" for i in range(rows)]),
        "Last Name": pa.array([f"Family{i % 7919}" for i in range(rows)]),
        "email": pa.array([f"person{i}@example.com" for i in range(rows)]),
        "birthdate": pa.array([f"{1 + i % 12:02d}/{1 + i % 28:02d}/{1950 + i % 50}"
                               for i in range(rows)]),
        "points": pa.array([str(i % 1000) for i in range(rows)]),
        "updated_at": pa.array([f"2026-11-{1 + i % 28:02d} 09:00:00" for i in range(rows)]),
    })
    csv_path, parquet_path = where / "customers.csv", where / "customers.parquet"
    pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
    pq.write_table(table, parquet_path)
    return csv_path, parquet_path


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource
    from cdp_pipelines.sources.couriers import LandedFile, sha256_of
    from cdp_pipelines.sources.domain import load_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdp-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        csv_path, parquet_path = write_inputs(args.rows, work)
        print(f"wrote {args.rows:,} rows as CSV ({csv_path.stat().st_size / 1e6:.0f} MB) and "
              f"Parquet ({parquet_path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        spark = SparkResource(master=args.master, shuffle_partitions=4, driver_memory="2g")
        spark.get_session()  # start-up is not part of the measurement
        for name, path, fmt in (("csv", csv_path, FormatSpec(type="csv")),
                                ("parquet", parquet_path, FormatSpec(type="parquet"))):
            lake = DeltaLake.for_deployment(spark, Deployment(lake_root=str(work / f"lake_{name}")))
            landed = LandedFile(path.name, path, path.stat().st_size, sha256_of(path), None, True)
            with PeakMemory() as memory:
                started = time.perf_counter()
                result = load_files(lake, FEED, fmt, [landed], run_id=f"bench-{name}")
                seconds = time.perf_counter() - started
            stored = lake.read("domain", FEED.name).count()
            print(f"{name:8s} {result.rows_read:,} rows read, {stored:,} stored, "
                  f"{result.rows_quarantined:,} quarantined in {seconds:.1f} s: "
                  f"{result.rows_read / seconds:,.0f} rows/s; peak memory "
                  f"{memory.peak / 2**20:,.0f} MiB (Python + Spark JVM)")


if __name__ == "__main__":
    main()
