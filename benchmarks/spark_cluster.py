"""Wall time of the tiny tenant (couriers, domain tables, Stitch) on ``local[*]`` and on a
real Spark standalone cluster on 127.0.0.1 (a master and two workers started with pyspark's
``spark-class``), each in a fresh process (JVM start included), and whether both give the
same amperity_ids.

    .venv/bin/python benchmarks/spark_cluster.py [--workers 2] [--repeat 1]

Uses the run script of ``cdp_pipelines_tests/resources/test_spark_cluster.py`` (the test
checks equality on the same input; this script times it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdp_pipelines_tests import servers  # noqa: E402
from cdp_pipelines_tests.resources.test_spark_cluster import _stitch  # noqa: E402


def _timed(where: Path, **env: str) -> tuple[float, dict]:
    where.mkdir(parents=True)
    started = time.perf_counter()
    result = _stitch(where, "lake", **env)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-bench-cluster-") as tmp:
        base = Path(tmp)
        local_times, cluster_times, same = [], [], []
        for i in range(args.repeat):
            seconds, local = _timed(base / f"local{i}", CDP_SPARK_MASTER="local[*]")
            local_times.append(seconds)
            with servers.spark_cluster(workers=args.workers) as cluster:
                seconds, remote = _timed(base / f"cluster{i}",
                                         CDP_SPARK_MASTER=cluster.master_url,
                                         CDP_SPARK_PYTHON=sys.executable,
                                         CDP_SPARK_EXECUTOR_MEMORY="768m")
            cluster_times.append(seconds)
            same.append(remote["ids"] == local["ids"])
    print(f"tiny tenant, couriers + domain + Stitch, fresh process each, {args.repeat} run(s)")
    print(f"local[*]:                  {min(local_times):7.1f} s (best)  runs {local_times}")
    print(f"cluster, {args.workers} workers x 1 core: {min(cluster_times):7.1f} s (best)  "
          f"runs {cluster_times}")
    print(f"cluster / local:           {min(cluster_times) / min(local_times):7.2f}")
    print(f"same amperity_ids:         {all(same)}")


if __name__ == "__main__":
    main()
