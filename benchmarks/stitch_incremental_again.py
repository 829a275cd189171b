"""An incremental Stitch again, on the churned lake `stitch_scale.py --churn
--keep-churned-lake --work WORK` kept: its seconds and parts, and the same churn figures.

A 1M-record `stitch_scale` run takes about an hour; this one repeats only its churn day's
incremental Stitch (about 5 minutes at 1M), on a fresh copy of WORK/lake_churned each
time, so a change to the incremental path is measured on the same records. With --full it
also runs a full Stitch on another copy, the reference of the share (else compare with the
full run the stitch_scale log printed, on a machine as quiet).

    python benchmarks/stitch_incremental_again.py --work WORK [--full]
        [--driver-memory 5g] [--shuffle-partitions 50]

Reads WORK/ids_first (ids before the churn day), WORK/ids_full (the full run's ids after
it, from stitch_scale) and WORK/demo/drop/pos (the churn day is its newest customers file);
writes WORK/lake_again, WORK/ids_again, WORK/changes_again (and WORK/lake_again_full).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stitch_scale import (  # noqa: E402
    churn_figures,
    driver_memory_for,
    in_child,
    print_phases,
    read_pairs,
    run_stitch,
    say,
    shuffle_partitions_for,
    snapshot,
)


def churn_day_records(drop: Path, ids_first: Path) -> tuple[set[str], list[str]]:
    """In a child: (moved, added) record ids of the churn day, the newest pos customers
    file: its rows of customers stitched before are the moved ones."""
    before = read_pairs(ids_first, "record_id", "amperity_id")
    newest = sorted((drop / "pos").glob("customers_*.csv"))[-1]
    with open(newest, newline="") as fh:
        record_ids = [f"pos_customers:{row['customer_id']}" for row in csv.DictReader(fh)]
    return ({r for r in record_ids if r in before}, [r for r in record_ids if r not in before])


def again(args: argparse.Namespace, work: Path) -> None:
    import psutil

    from cdp_pipelines.examples import standins
    from cdp_pipelines.resources.spark import build_spark_session

    churned = work / "lake_churned"
    for needed in (churned, work / "ids_first", work / "ids_full", work / "demo" / "drop"):
        if not needed.exists():
            raise SystemExit(f"stitch_incremental_again: {needed} missing: run stitch_scale.py "
                             f"--churn --keep-churned-lake --work {work} first")
    moved, added = in_child(churn_day_records, work / "demo" / "drop", work / "ids_first")
    records = len(read_pairs(work / "ids_full", "record_id", "amperity_id"))
    master = os.environ.get("CDP_SPARK_MASTER", "local[*]")
    memory = args.driver_memory or os.environ.get("CDP_SPARK_DRIVER_MEMORY") or \
        driver_memory_for(records)
    partitions = args.shuffle_partitions or shuffle_partitions_for(records)
    # The Stitch assets read only the lake; the stand-ins are started because the demo
    # tenant's sources name them.
    ins = standins.start(standins.StandIns.on_free_ports(work / "services"))
    spark = None
    try:
        exclude = {child.pid for child in psutil.Process().children()}
        lakes = {"incremental": work / "lake_again"}
        if args.full:
            lakes["full"] = work / "lake_again_full"
        for lake in lakes.values():
            shutil.rmtree(lake, ignore_errors=True)
            shutil.copytree(churned, lake)
        started = time.perf_counter()
        spark = build_spark_session(master, partitions, driver_memory=memory)
        say(f"spark: {master}, driver memory {memory}, {partitions} shuffle partitions, "
            f"started in {time.perf_counter() - started:.1f} s")
        phases = {}
        for mode, lake in lakes.items():
            env = {**os.environ, **ins.env(), "CDP_DEMO_DROP": str(work / "demo" / "drop"),
                   "CDP_LAKE_ROOT": str(lake), "CDP_SPARK_MASTER": master}
            phases[f"stitch {mode}"] = run_stitch(env, exclude, mode=mode)
        after = snapshot(spark, lakes["incremental"], "unified_coalesced", work / "ids_again")
        changes = snapshot(spark, lakes["incremental"], "unified_changes_pks",
                           work / "changes_again", ("record_id", "old_id", "new_id"))
        figures = in_child(churn_figures, work / "ids_first", after, work / "ids_full",
                           changes, moved, added)
        print_phases(f"churn again: +{len(added)} new pos customers, {len(moved)} moved",
                     figures["records"], phases)
        if args.full:
            share = phases["stitch incremental"]["seconds"] / phases["stitch full"]["seconds"]
            say(f"  incremental {phases['stitch incremental']['seconds']:.1f} s vs full "
                f"{phases['stitch full']['seconds']:.1f} s: {share:.0%} of a full run "
                f"(target <= 10%: {'met' if share <= 0.10 else 'MISSED'})")
        say(f"  untouched records keeping their amperity_id: {figures['kept']}/"
            f"{figures['untouched']} = {figures['kept'] / figures['untouched']:.4%}")
        say(f"  records clustered as stitch_scale's full run clusters them: "
            f"{figures['same_clusters']:.4%}; same ids: {figures['same_ids']:.4%}")
        say(f"  change log: {figures['logged']} records logged, {figures['moved_ids']} "
            f"changed ids; {'exact' if figures['exact'] else 'DIFFERS'}")
    finally:
        try:
            if spark is not None:
                spark.stop()
        finally:
            standins.stop(ins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="the work directory of a stitch_scale --churn "
                             "--keep-churned-lake run")
    parser.add_argument("--full", action="store_true",
                        help="also a full Stitch on another copy, the reference of the share")
    parser.add_argument("--driver-memory", help="Spark driver memory, e.g. 5g")
    parser.add_argument("--shuffle-partitions", type=int)
    args = parser.parse_args(argv)
    again(args, args.work.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
