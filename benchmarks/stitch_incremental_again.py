"""An incremental Stitch again, on the churned lake `stitch_scale.py --churn
--keep-churned-lake --work WORK` kept: its seconds and parts, and the same churn figures.

A 1M-record `stitch_scale` run takes about an hour; this one repeats only its churn day's
incremental Stitch (about 5 minutes at 1M), on a fresh copy of WORK/lake_churned each
time, so a change to the incremental path is measured on the same records. With --full it
also runs a full Stitch on another copy, the reference of the share (else compare with the
full run the stitch_scale log printed, on a machine as quiet). With --unchanged it then runs
an incremental Stitch once more on the same lake, with no record changed since: the floor
of an incremental run, its passes over what did not change, and a check that no id moved.

    python benchmarks/stitch_incremental_again.py --work WORK [--full] [--unchanged]
        [--driver-memory 5g] [--shuffle-partitions 50]

Reads WORK/ids_first (ids before the churn day), WORK/ids_full (the full run's ids after
it, from stitch_scale) and WORK/demo/drop/pos (the churn day is its newest customers file);
writes WORK/lake_again, WORK/ids_again, WORK/changes_again (and WORK/lake_again_full;
with --unchanged WORK/ids_unchanged and WORK/changes_unchanged).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stitch_scale import (  # noqa: E402
    churn_figures,
    in_child,
    print_churn,
    print_phases,
    read_pairs,
    run_stitch,
    say,
    snapshot,
    stand_ins_and_spark,
)


def churn_day_records(drop: Path, ids_first: Path) -> tuple[set[str], list[str]]:
    """In a child: (moved, added) record ids of the churn day, the newest pos customers
    file: its rows of customers stitched before are the moved ones."""
    before = read_pairs(ids_first, "record_id", "amperity_id")
    newest = sorted((drop / "pos").glob("customers_*.csv"))[-1]
    with open(newest, newline="") as fh:
        record_ids = [f"pos_customers:{row['customer_id']}" for row in csv.DictReader(fh)]
    return ({r for r in record_ids if r in before}, [r for r in record_ids if r not in before])


def stitch_alone(work: Path, records: int, args: argparse.Namespace, mode: str,
                 lake: Path, label: str = "again") -> dict:
    """In a child: Stitch in `mode` on `lake`, its phase figures; an incremental run's ids
    and change log are kept in WORK/ids_<label> and WORK/changes_<label>. The Stitch assets
    read only the lake; the stand-ins are started because the demo tenant's sources name
    them."""
    with stand_ins_and_spark(work, records, args) as (services, spark, exclude):
        phase = run_stitch({**services.env, "CDP_LAKE_ROOT": str(lake)}, exclude, mode=mode)
        if mode == "incremental":
            snapshot(spark, lake, "unified_coalesced", work / f"ids_{label}")
            snapshot(spark, lake, "unified_changes_pks", work / f"changes_{label}",
                     ("record_id", "old_id", "new_id"))
    return phase


def unchanged_figures(before: Path, after: Path, changes: Path) -> dict:
    """In a child: how a run with nothing changed left the ids."""
    first = read_pairs(before, "record_id", "amperity_id")
    then = read_pairs(after, "record_id", "amperity_id")
    return {"records": len(then), "kept": sum(then.get(r) == i for r, i in first.items()),
            "before": len(first), "logged": len(read_pairs(changes, "record_id", "new_id"))}


def again(args: argparse.Namespace, work: Path) -> None:
    churned = work / "lake_churned"
    for needed in (churned, work / "ids_first", work / "ids_full", work / "demo" / "drop"):
        if not needed.exists():
            raise SystemExit(f"stitch_incremental_again: {needed} missing: run stitch_scale.py "
                             f"--churn --keep-churned-lake --work {work} first")
    moved, added = in_child(churn_day_records, work / "demo" / "drop", work / "ids_first")
    records = len(read_pairs(work / "ids_full", "record_id", "amperity_id"))
    lakes = {"incremental": work / "lake_again"}
    if args.full:
        lakes["full"] = work / "lake_again_full"
    for lake in lakes.values():
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(churned, lake)
    # Each run in a fresh process and Spark session, as each Dagster run of a deployment
    # is: run one after the other in one session, the second ran on the first's warm JVM
    # and Python workers (a full run after an incremental one preprocessed a million
    # records in 64 s, where the incremental one, first, took 112 s for 20 thousand).
    phases = {f"stitch {mode}": in_child(stitch_alone, work, records, args, mode, lake)
              for mode, lake in lakes.items()}
    after, changes = work / "ids_again", work / "changes_again"
    figures = in_child(churn_figures, work / "ids_first", after, work / "ids_full", changes,
                       moved, added)
    print_phases(f"churn again: +{len(added)} new pos customers, {len(moved)} moved",
                 figures["records"], phases)
    print_churn(figures, added, phases["stitch incremental"]["seconds"],
                phases["stitch full"]["seconds"] if args.full else None,
                against="stitch_scale's full run")
    if args.unchanged:
        unchanged = in_child(stitch_alone, work, records, args, "incremental",
                             lakes["incremental"], "unchanged")
        ids = in_child(unchanged_figures, after, work / "ids_unchanged",
                       work / "changes_unchanged")
        print_phases("nothing changed since: incremental again", ids["records"],
                     {"stitch incremental": unchanged})
        say(f"  ids kept: {ids['kept']:,} of {ids['before']:,}; change log: "
            f"{ids['logged']:,} records")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="the work directory of a stitch_scale --churn "
                             "--keep-churned-lake run")
    parser.add_argument("--full", action="store_true",
                        help="also a full Stitch on another copy, the reference of the share")
    parser.add_argument("--unchanged", action="store_true",
                        help="then an incremental Stitch again with nothing changed")
    parser.add_argument("--driver-memory", help="Spark driver memory, e.g. 5g")
    parser.add_argument("--shuffle-partitions", type=int)
    args = parser.parse_args(argv)
    again(args, args.work.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
