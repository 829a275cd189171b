"""Stitch at scale: wall time, throughput, peak memory and pairwise F1, against plain Splink.

For about N generated demo-tenant records (the demo generator, ~2.1 records per person):

1. cdp Stitch through the real Dagster assets on the demo tenant (ecom from an S3 stand-in,
   email from SFTP): first land + load the domain tables (timed and printed apart, not
   Stitch), then materialize the Stitch stages (unified_preprocessed_raw,
   stitch_blocklist_values, unified_scores, unified_coalesced + changes tables). Prints
   seconds, records/s, peak memory (PSS) of this process and its children (the Spark
   JVM; the stand-ins are left out) and pairwise precision/recall/F1 against
   ground_truth.csv. The benchmark's own work (the generator; truth, ids before and
   after, the churn day) runs in child processes between the phases, the comparisons
   from Parquet snapshots, so that none of it is counted in a phase's peak.
2. Plain Splink 5 on DuckDB over the same records, read from unified_preprocessed_raw's
   Delta table (Spark writes the normalised columns to Parquet, untimed; DuckDB reads
   that Parquet inside the timed part), with the values Stitch's blocklist
   (stitch_blocklist_values) blanks nulled first, as Stitch reads them. (On the demo
   generator at 1M that changes nothing: its F1 is 0.012 either way, 102.9M predicted
   pairs that its own links at 0.9 chain together.) Hand-written settings as in Splink's
   examples, no contradiction guard. Runs in a child process so that its peak memory is
   its own, not the idle Spark JVM's. Prints the ratio of the two times. Its
   Jaro-Winkler is DuckDB's, not the Spark UDF Stitch's comparisons use: they differ on
   about 11% of sampled pairs of names, streets and towns.
3. --churn: a further day at the tills (pos) with 1% new customers and 1% existing ones who
   moved (newer row, new address and phone), drawn from the tenant's own names and towns,
   domain + Stitch again, incremental (run tag cdp/stitch_mode=incremental), and full on
   a copy of the lake; prints both runs' times, the incremental run as a share of the full
   one, the share of untouched records that kept their amperity_id (target >= 99.9%), the
   share of records the incremental run clusters as the full run does, and whether the
   change log is exact.

    python benchmarks/stitch_scale.py --records 3000 [--churn] [--skip-splink-duckdb]
        [--work DIR] [--driver-memory 4g] [--shuffle-partitions 4]

Spark: CDP_SPARK_MASTER (default local[*]); driver memory from --driver-memory, else
CDP_SPARK_DRIVER_MEMORY, else sized from N (2 GiB + 1 GiB per 250k records, at most 70%
of RAM). Peak memory is sampled every 0.5 s, so it can miss a shorter spike.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

# The shared helpers next to this file (the peak-memory sampler, stitch_quality.pairwise).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import GIB, PeakMemory  # noqa: E402

RECORDS_PER_PERSON = 2.1
SEED = 11
DOMAIN_GROUPS = ("sources", "domain")
STITCH_ASSETS = ("unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
                 "unified_coalesced", "unified_changes_clusters", "unified_changes_pks")
MATCH_THRESHOLD = 0.9
# Dagster's per-step DEBUG events would bury the tables; warnings and errors still show.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
CHURN_SHARE = 0.01
# Normalised preprocess column -> the plain name the Splink settings use.
SPLINK_COLUMNS = {"given_name_norm": "first_name", "surname_norm": "surname",
                  "birthdate_norm": "dob", "email_norm": "email", "phone_e164": "phone",
                  "address_full_norm": "address", "postal_norm": "postal"}


def say(text: str = "") -> None:
    print(text, flush=True)


def driver_memory_for(records: int) -> str:
    import psutil

    ceiling = max(1, int(psutil.virtual_memory().total * 0.7 / GIB))
    return f"{min(ceiling, 2 + records // 250_000)}g"


def shuffle_partitions_for(records: int) -> int:
    # Adaptive query execution coalesces small partitions; this is an upper bound per shuffle.
    return max(4, min(512, records // 20_000))


def load_truth(path: Path) -> dict[str, str]:
    if not path.exists():
        raise SystemExit(f"stitch_scale: ground truth {path} missing: the generator did not "
                         "write it")
    with open(path, newline="") as fh:
        return {f"{row['feed']}:{row['pk']}": row["person_id"] for row in csv.DictReader(fh)}


def materialize_assets(defs, selection, phase: str,
                       tags: dict[str, str] | None = None) -> None:
    from dagster import DagsterInstance, materialize

    try:
        result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                             instance=DagsterInstance.ephemeral(), raise_on_error=True,
                             run_config=QUIET_RUN, tags=tags)
    except Exception as exc:
        raise RuntimeError(f"stitch_scale: {phase} failed: {exc}") from exc
    if not result.success:
        raise RuntimeError(f"stitch_scale: {phase} did not succeed (no exception raised)")
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    if "every_record_has_an_id" in failed:
        raise RuntimeError(f"stitch_scale: {phase}: check every_record_has_an_id failed")
    if phase.startswith("stitch"):
        # Where the time goes: each step's own duration, as Dagster measured it.
        steps = [(e.step_key, e.event_specific_data.duration_ms / 1000)
                 for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
        say("  " + ", ".join(f"{key.replace('stitch__', '')} {sec:.1f} s" for key, sec in steps))
        # And inside the long steps, their parts (the assets' seconds_by_part).
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            parts = mat.metadata.get("seconds_by_part")
            if parts is not None:
                say(f"    {mat.asset_key.path[-1]}: {parts.value}")


def timed(work, exclude: set[int]) -> dict[str, float]:
    with PeakMemory(exclude=exclude) as peak:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_gib": peak.peak_gib}


def run_domain(env: dict[str, str], exclude: set[int]) -> dict:
    from dagster import AssetSelection

    from cdp_pipelines.definitions import build_definitions

    return timed(lambda: materialize_assets(build_definitions(env),
                                            AssetSelection.groups(*DOMAIN_GROUPS),
                                            "land + domain"), exclude)


def run_stitch(env: dict[str, str], exclude: set[int], mode: str | None = None) -> dict:
    from dagster import AssetSelection

    from cdp_pipelines.definitions import build_definitions
    from cdp_pipelines.keys import STITCH_MODE_TAG

    stitch = AssetSelection.assets(*[["stitch", name] for name in STITCH_ASSETS])
    return timed(lambda: materialize_assets(build_definitions(env), stitch,
                                            f"stitch ({mode or 'as configured'})",
                                            tags={STITCH_MODE_TAG: mode} if mode else None),
                 exclude)


def run_domain_and_stitch(env: dict[str, str], exclude: set[int]) -> tuple[dict, dict]:
    return run_domain(env, exclude), run_stitch(env, exclude)


def same_clusters(a: dict[str, str], b: dict[str, str]) -> float:
    """The share of records of `a` whose cluster (the records sharing its id) is the same
    set of records in `b`."""
    def members(ids: dict[str, str]) -> dict[str, frozenset[str]]:
        by_id: dict[str, set[str]] = {}
        for record, amperity_id in ids.items():
            by_id.setdefault(amperity_id, set()).add(record)
        return {r: frozenset(by_id[i]) for r, i in ids.items()}

    ma, mb = members(a), members(b)
    return sum(ma[r] == mb.get(r) for r in ma) / max(len(ma), 1)


def snapshot(spark, lake: Path, table: str, out: Path,
             columns: tuple[str, ...] = ("record_id", "amperity_id")) -> Path:
    """`columns` of Stitch's `table` (default: unified_coalesced's ids) written to Parquet
    at `out`. The comparisons read such snapshots in a child process (`in_child`): a dict
    of a million ids held here would count in the peak memory of every phase after it,
    which is this process's and its children's."""
    (spark.read.format("delta").load(f"{lake}/prod/stitch/{table}")
     .select(*columns).write.mode("overwrite").parquet(str(out)))
    return out


def read_pairs(parquet: Path, key: str, *values: str) -> dict:
    """`key` -> `values` (one value: the value itself) of a Parquet snapshot."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(parquet), columns=[key, *values]).to_pydict()
    columns = [table[v] for v in values]
    found = columns[0] if len(values) == 1 else list(zip(*columns))
    return dict(zip(table[key], found))


def in_child(work, *args):
    """`work(*args)` in a fresh child process, which is gone when it returns: its memory
    is never counted in a phase, and never left behind in this process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args).result()


def score_ids(ids: Path, truth_file: Path) -> dict[str, float]:
    """In a child: pairwise quality of a snapshot against ground truth."""
    from stitch_quality import pairwise

    return pairwise(read_pairs(ids, "record_id", "amperity_id"), load_truth(truth_file))


def churn_day(drop: Path, ids: Path, days: int) -> tuple[set[str], list[str]]:
    """In a child: `write_churn_day` over the stitched records of snapshot `ids`."""
    return write_churn_day(drop, read_pairs(ids, "record_id", "amperity_id"), days)


def churn_figures(before_ids: Path, after_ids: Path, full_ids: Path, changes: Path,
                  moved: set[str], added: list[str]) -> dict[str, float | int | bool]:
    """In a child: what the incremental run kept and changed, against the run before it
    and the full run on the same records."""
    before = read_pairs(before_ids, "record_id", "amperity_id")
    after = read_pairs(after_ids, "record_id", "amperity_id")
    after_full = read_pairs(full_ids, "record_id", "amperity_id")
    untouched = [r for r in before if r not in moved]
    known = set(before.values())
    logged = read_pairs(changes, "record_id", "old_id", "new_id")
    moved_ids = {r: (before.get(r), after.get(r)) for r in {*after, *before}
                 if before.get(r) != after.get(r)}
    return {"records": len(after), "untouched": len(untouched),
            "kept": sum(after.get(r) == before[r] for r in untouched),
            "new_ids": sum(after.get(r) not in known for r in added),
            "same_clusters": same_clusters(after, after_full),
            "same_ids": sum(after_full.get(r) == i for r, i in after.items()) / len(after),
            "logged": len(logged), "moved_ids": len(moved_ids),
            "exact": logged == moved_ids}


def print_churn(figures: dict, added: list[str], incremental: float, full: float | None,
                against: str = "the full run") -> None:
    """The churn figures: the incremental run's share of the full one (when timed), the
    untouched ids kept, the clusters and ids as `against`'s, the change log."""
    if full is not None:
        share = incremental / max(full, 1e-9)
        say(f"  incremental {incremental:.1f} s vs full {full:.1f} s: {share:.0%} of a full "
            f"run (target <= 10%: {'met' if share <= 0.10 else 'MISSED'})")
    kept = figures["kept"] / figures["untouched"]
    say(f"  untouched records keeping their amperity_id: {figures['kept']}/"
        f"{figures['untouched']} = {kept:.4%} (target >= 99.9%: "
        f"{'met' if kept >= 0.999 else 'MISSED'}); new customers with a new id: "
        f"{figures['new_ids']}/{len(added)}")
    say(f"  records clustered as {against} clusters them: {figures['same_clusters']:.4%}; "
        f"same ids as {against}: {figures['same_ids']:.4%}")
    say(f"  change log: {figures['logged']} records logged, {figures['moved_ids']} "
        f"changed ids; {'exact' if figures['exact'] else 'DIFFERS'}")


def print_phases(title: str, records: int, phases: dict[str, dict[str, float]]) -> None:
    say(f"== {title}")
    say(f"  {'phase':20} {'seconds':>9} {'records/s':>10} {'peak GiB':>9}")
    for name, m in phases.items():
        rate = f"{records / m['seconds']:>10.0f}" if name != "land + domain" else f"{'-':>10}"
        say(f"  {name:20} {m['seconds']:>9.1f} {rate} {m['peak_gib']:>9.2f}")


def print_quality(m: dict[str, float]) -> None:
    say(f"  pairwise vs truth: records {m['records']}  true pairs {m['true_pairs']}  "
        f"predicted pairs {m['predicted_pairs']}  precision {m['precision']:.4f}  "
        f"recall {m['recall']:.4f}  f1 {m['f1']:.4f}")


def export_for_splink(spark, lake: Path, out: Path) -> int:
    """The normalised records of unified_preprocessed_raw as Parquet, in Splink's names,
    with the values stitch_blocklist_values lists nulled (as Stitch's matching reads them)."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.badvalues import apply_blocklist

    stitch = f"{lake}/prod/stitch"
    pre = apply_blocklist(spark.read.format("delta").load(f"{stitch}/unified_preprocessed_raw"),
                          spark.read.format("delta").load(f"{stitch}/stitch_blocklist_values"))
    missing = sorted((set(SPLINK_COLUMNS) | {"source", "pk"}) - set(pre.columns))
    if missing:
        raise RuntimeError(f"stitch_scale: unified_preprocessed_raw lacks column(s) {missing} "
                           f"the Splink baseline reads (it has {pre.columns})")
    columns = [F.concat_ws(":", "source", "pk").alias("record_id")]
    for source, name in SPLINK_COLUMNS.items():
        value = (F.date_format(source, "yyyy-MM-dd") if source == "birthdate_norm"
                 else F.col(source).cast("string"))
        columns.append(value.alias(name))
    frame = pre.select(*columns)
    frame.write.mode("overwrite").parquet(str(out))
    return spark.read.parquet(str(out)).count()


def splink_settings():
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.EmailComparison("email"),
            cl.DamerauLevenshteinAtThresholds("phone", [1, 2]),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.88]).configure(
                term_frequency_adjustments=True),
            # US ZIP codes: UK-style PostcodeComparison levels (sector, district) do not apply.
            cl.LevenshteinAtThresholds("postal", [1]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("email"),
            block_on("phone"),
            block_on("postal", "surname"),
            block_on("postal", "first_name"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def splink_duckdb(parquet_dir: str, truth_file: str) -> dict:
    """Run in a child process: plain Splink on DuckDB, timed and memory-sampled on its own."""
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker, block_on
    from stitch_quality import pairwise

    with PeakMemory() as peak:
        started = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"CREATE TABLE records AS SELECT * FROM read_parquet('{parquet_dir}/*.parquet')")
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register("records"), splink_settings(), log_level=logging.WARNING)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("email"), block_on("first_name", "surname", "dob")], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=SEED)
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("first_name", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
        predictions = linker.inference.predict(threshold_match_probability=MATCH_THRESHOLD)
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, MATCH_THRESHOLD)
        rows = con.execute(
            f"SELECT record_id, cluster_id FROM {clustered.physical_name}").fetchall()
        seconds = time.perf_counter() - started
    quality = pairwise({record: str(cluster) for record, cluster in rows},
                       load_truth(Path(truth_file)))
    return {"seconds": seconds, "peak_gib": peak.peak_gib, "records": len(rows),
            "quality": quality}


def write_churn_day(drop: Path, before: dict[str, str], days: int) -> tuple[set[str], list[str]]:
    """Day `days`+1 at the tills: 1% new customers and 1% known ones who moved (a newer
    row for an existing customer_id with another address and phone), drawn from the
    tenant's own customers so that they spread over its towns and names as real ones do:
    a newcomer has a given name, a surname, a birthdate and a town each taken from a
    different random customer, a new street number on a street of that town and an email
    and phone of their own; a mover goes to a new number on another customer's street.
    Returns the moved record ids and the new record ids."""
    import random

    from cdp_pipelines.examples.demo_tenant.generator import START_DATE

    n = max(2, round(len(before) * CHURN_SHARE))
    latest: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    for path in sorted((drop / "pos").glob("customers_*.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            for row in reader:
                # Rows Stitch saw only: quarantined ones (no pk, untypable) never got an id.
                if f"pos_customers:{row['customer_id']}" in before:
                    latest[row["customer_id"]] = row
    if len(latest) < n:
        raise RuntimeError(f"stitch_scale: churn needs {n} stitched pos customers, "
                           f"found {len(latest)} in {drop / 'pos'}")
    rng = random.Random(SEED)
    known = [latest[k] for k in sorted(latest)]
    day = START_DATE + timedelta(days=days)
    stamp = f"{day:%Y-%m-%d} 10:00:00"

    def home(i: int) -> dict[str, str]:
        """A new street number on a random customer's street, in that customer's town."""
        other = rng.choice(known)
        street = other["address"].strip().split(" ", 1)
        name = street[1] if len(street) == 2 and street[0].isdigit() else other["address"]
        return {"address": f"{rng.randint(1, 9999)} {name}", "city": other["city"],
                "state": other["state"], "zip": other["zip"],
                "phone": f"503-{555 + i // 10_000:03d}-{i % 10_000:04d}"}

    moved = rng.sample(known, n)
    rows = [{**row, **home(i), "updated_at": stamp} for i, row in enumerate(moved)]
    new_ids = [f"99{i:08d}" for i in range(n)]
    for i, customer_id in enumerate(new_ids):
        rows.append({c: "" for c in columns} | home(n + i) | {
            "customer_id": customer_id, "first_name": rng.choice(known)["first_name"],
            "last_name": rng.choice(known)["last_name"],
            "birthdate": rng.choice(known)["birthdate"],
            "email": f"newcomer{i}@example.org", "updated_at": stamp})
    with open(drop / "pos" / f"customers_{day:%Y%m%d}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return ({f"pos_customers:{r['customer_id']}" for r in moved},
            [f"pos_customers:{c}" for c in new_ids])


def print_households(env: dict[str, str], spark, lake: Path, truth_file: Path,
                     households_file: Path) -> None:
    """Materialize merged_customers and household_members, then score households pairwise
    over customers against the generator's households: each customer stands for the
    person most of its records belong to (so Stitch's own errors count against it too)."""
    from collections import Counter

    from dagster import AssetSelection
    from stitch_quality import pairwise

    from cdp_pipelines.definitions import build_definitions
    from cdp_pipelines.keys import STANDARD_DB, c360_key, stitch_key

    defs = build_definitions(env)
    defined = set(defs.resolve_all_asset_keys())
    # transaction_attributes (household revenue) reads the tenant's unified transactions.
    transactions = [k for k in (stitch_key("unified_transactions"),
                                stitch_key("unified_itemized_transactions")) if k in defined]
    started = time.perf_counter()
    materialize_assets(defs, AssetSelection.assets(
        *transactions, c360_key(STANDARD_DB, "merged_customers"),
        c360_key(STANDARD_DB, "transaction_attributes"),
        c360_key(STANDARD_DB, "household_members")),
        "households")
    seconds = time.perf_counter() - started
    truth = load_truth(truth_file)
    with open(households_file, newline="") as fh:
        household_of = {r["person_id"]: r["household_id"] for r in csv.DictReader(fh)}
    votes: dict[str, Counter] = {}
    for r in spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced") \
            .select("record_id", "amperity_id").collect():
        person = truth.get(r["record_id"])
        if person is not None and r["amperity_id"] is not None:
            votes.setdefault(r["amperity_id"], Counter())[person] += 1
    person_of = {a: c.most_common(1)[0][0] for a, c in votes.items()}
    members = spark.read.format("delta").load(
        f"{lake}/prod/c360/c360/household_members").collect()
    predicted = {r["amperity_id"]: r["household_id"] for r in members
                 if r["amperity_id"] in person_of}
    true = {a: household_of[p] for a, p in person_of.items()}
    m = pairwise(predicted, true)
    sizes = Counter(Counter(predicted.values()).values())
    say(f"households: {len(set(predicted.values())):,} households of {len(predicted):,} "
        f"customers in "
        f"{seconds:.1f} s (unified transactions, merged_customers, transaction_attributes, "
        f"household_members); sizes "
        f"{dict(sorted(sizes.items()))}; true households "
        f"{len(set(true.values())):,}")
    say(f"  pairwise precision {m['precision']:.4f}, recall {m['recall']:.4f}, "
        f"F1 {m['f1']:.4f}")


class StandIns(NamedTuple):
    ins: object  # cdp_pipelines.examples.standins.StandIns
    env: dict[str, str]  # the environment the demo tenant's definitions read, but the lake


@contextmanager
def stand_ins_and_spark(work: Path, records: int, args: argparse.Namespace):
    """The demo tenant's stand-ins (S3, SFTP, ...) under WORK/services and the Spark
    session sized for `records` (or --driver-memory, --shuffle-partitions): (StandIns,
    spark, the pids whose memory is not Stitch's); both stopped afterwards."""
    import psutil

    from cdp_pipelines.deployment import spark_conf
    from cdp_pipelines.examples import standins
    from cdp_pipelines.resources.spark import build_spark_session

    master = os.environ.get("CDP_SPARK_MASTER", "local[*]")
    memory = args.driver_memory or os.environ.get("CDP_SPARK_DRIVER_MEMORY") or \
        driver_memory_for(records)
    partitions = args.shuffle_partitions or shuffle_partitions_for(records)
    ins = standins.start(standins.StandIns.on_free_ports(work / "services"))
    spark = None
    try:
        # Before Spark starts, every child is a stand-in: their memory is not Stitch's.
        exclude = {child.pid for child in psutil.Process().children()}
        env = {**os.environ, **ins.env(), "CDP_DEMO_DROP": str(work / "demo" / "drop"),
               "CDP_SPARK_MASTER": master}
        started = time.perf_counter()
        # Started here so that the Dagster Spark resource reuses this session (one per
        # process) with the driver memory and shuffle partitions sized for N.
        # The deployment's own Spark settings too (CDP_SPARK_CONF, CDP_SPARK_*), as its
        # runs get them (they win over the sizes above, as there).
        spark = build_spark_session(master, partitions, driver_memory=memory,
                                    extra_conf=dict(spark_conf(dict(os.environ))))
        say(f"spark: {master}, driver memory {memory}, {partitions} shuffle partitions, "
            f"started in {time.perf_counter() - started:.1f} s")
        yield StandIns(ins, env), spark, exclude
    finally:
        try:
            if spark is not None:
                spark.stop()
        finally:
            # Also when the JVM is already gone and stop() raises.
            standins.stop(ins)


def benchmark(args: argparse.Namespace, work: Path) -> None:
    from cdp_pipelines.examples import standins
    from cdp_pipelines.examples.demo_tenant.generator import generate

    people = max(1, round(args.records / RECORDS_PER_PERSON))
    started = time.perf_counter()
    # In a child: the generator is not the CDP, and the memory a million generated rows
    # took would stay with this process (Python keeps what it freed), counted in every
    # phase's peak after it.
    counts = in_child(generate, work / "demo", people, SEED, args.days)
    generated = sum(counts["records"].values())
    say(f"generator: {people} people, {generated} customer records "
        f"({', '.join(f'{k} {v}' for k, v in counts['records'].items())}), "
        f"{counts['ground_truth']} truth rows, {time.perf_counter() - started:.1f} s")
    drop = work / "demo" / "drop"
    truth_file = work / "demo" / "ground_truth.csv"
    if not truth_file.exists():
        raise SystemExit(f"stitch_scale: ground truth {truth_file} missing: the generator "
                         "did not write it")

    with stand_ins_and_spark(work, generated, args) as (services, spark, exclude):
        standins.publish(drop, services.ins)
        lake = work / "lake"
        env = {**services.env, "CDP_LAKE_ROOT": str(lake)}
        master = env["CDP_SPARK_MASTER"]
        land, matched = run_domain_and_stitch(env, exclude)
        before = snapshot(spark, lake, "unified_coalesced", work / "ids_first")
        print_phases(f"cdp Stitch (Dagster assets, Spark {master})",
                     spark.read.parquet(str(before)).count(),
                     {"land + domain": land, "stitch": matched})
        print_quality(in_child(score_ids, before, truth_file))

        if args.households:
            print_households(env, spark, lake, truth_file,
                             work / "demo" / "households_truth.csv")

        if not args.skip_splink_duckdb:
            parquet = work / "splink_input"
            exported = export_for_splink(spark, lake, parquet)
            result = in_child(splink_duckdb, str(parquet), str(truth_file))
            print_phases("plain Splink 5 on DuckDB (input: unified_preprocessed_raw, "
                         "blocklisted values nulled)", exported, {"splink": result})
            print_quality(result["quality"])
            say(f"  cdp Stitch {matched['seconds']:.1f} s = "
                f"{matched['seconds'] / max(result['seconds'], 1e-9):.1f}x plain Splink on "
                f"DuckDB's {result['seconds']:.1f} s")

        if args.churn:
            moved, added = in_child(churn_day, drop, before, args.days)
            land2 = run_domain(env, exclude)
            # The same lake, before Stitch, for a full run to compare with.
            full_lake = work / "lake_full"
            shutil.rmtree(full_lake, ignore_errors=True)
            shutil.copytree(lake, full_lake)
            if args.keep_churned_lake:
                # The lake an incremental run starts from, to run it again (profiling).
                kept = work / "lake_churned"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(lake, kept)
                say(f"  churned lake before Stitch kept in {kept}")
            matched2 = run_stitch(env, exclude, mode="incremental")
            after = snapshot(spark, lake, "unified_coalesced", work / "ids_incremental")
            changes = snapshot(spark, lake, "unified_changes_pks", work / "changes_pks",
                               ("record_id", "old_id", "new_id"))
            full = run_stitch({**env, "CDP_LAKE_ROOT": str(full_lake)}, exclude, mode="full")
            after_full = snapshot(spark, full_lake, "unified_coalesced", work / "ids_full")
            figures = in_child(churn_figures, before, after, after_full, changes, moved,
                               added)
            print_phases(f"churn: +{len(added)} new pos customers, {len(moved)} moved",
                         figures["records"],
                         {"land + domain": land2, "stitch incremental": matched2,
                          "stitch full (copy)": full})
            print_churn(figures, added, matched2["seconds"], full["seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True,
                        help="about how many customer records to generate")
    parser.add_argument("--households", action="store_true",
                        help="also build households and score them against the generator's")
    parser.add_argument("--churn", action="store_true",
                        help="then 1%% new + 1%% moved pos customers, and Stitch again")
    parser.add_argument("--skip-splink-duckdb", action="store_true")
    parser.add_argument("--keep-churned-lake", action="store_true",
                        help="with --churn: keep a copy of the lake before the incremental "
                             "Stitch in WORK/lake_churned")
    parser.add_argument("--work", type=Path,
                        help="work directory, kept afterwards (default: a temporary one)")
    parser.add_argument("--days", type=int, default=2, help="days of generated files")
    parser.add_argument("--driver-memory", help="Spark driver memory, e.g. 8g")
    parser.add_argument("--shuffle-partitions", type=int)
    args = parser.parse_args(argv)
    if args.records < 10:
        parser.error("--records must be at least 10")
    if args.work is not None:
        if args.work.exists() and any(args.work.iterdir()):
            parser.error(f"--work {args.work} is not empty: a previous lake would be reused")
        args.work.mkdir(parents=True, exist_ok=True)
        benchmark(args, args.work.resolve())
        return 0
    work = Path(tempfile.mkdtemp(prefix="cdp-stitch-scale-"))
    try:
        benchmark(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
