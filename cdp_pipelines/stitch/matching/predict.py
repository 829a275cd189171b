"""Prediction: every edge of a run, deterministic and scored, each with its explanation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from cdp_pipelines.observability import Timings
from cdp_pipelines.stitch.matching.deterministic import (
    DEFAULT_MAX_DETERMINISTIC_GROUP,
    deterministic_edges_and_oversized,
)
from cdp_pipelines.stitch.matching.focus import focused_linker
from cdp_pipelines.stitch.matching.guard import drop_contradictions
from cdp_pipelines.stitch.matching.linker import make_linker
from cdp_pipelines.stitch.matching.records import with_record_id

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# Pairs at or above this probability are accepted into clusters (score 3 "good" or better).
DEFAULT_THRESHOLD = 0.9


def _explanation_column(edges: "DataFrame", settings: dict) -> "Column":
    from pyspark.sql import functions as F

    keys, values = [], []
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        mw = F.col(f"mw_{name}")
        if f"mw_tf_adj_{name}" in edges.columns:
            mw = mw + F.coalesce(F.col(f"mw_tf_adj_{name}"), F.lit(0.0))
        keys.append(F.lit(name))
        values.append(mw.cast("double"))
    return F.map_from_arrays(F.array(*keys), F.array(*values))


def scored_pairs(
    settings_json: dict[str, Any] | str,
    df: "DataFrame",
    spark: "SparkSession",
    threshold: float = DEFAULT_THRESHOLD,
    names: bool = True,
    focus: str | None = None,
    timings: Timings | None = None,
    rescore: "DataFrame | None" = None,
) -> "DataFrame":
    """Splink pairs with probability >= `threshold`, contradictions dropped:
    record_id_l < record_id_r, match_probability, match_weight, explanation. With `focus`
    (a string column of `df`, '1' on the records to score) only pairs holding such a
    record are scored, and the pairs `rescore` names (record_id_l, record_id_r); term
    frequencies still come from every record of `df` (the seconds of that set-up go to
    `timings`)."""
    from pyspark.sql import functions as F

    settings = json.loads(settings_json) if isinstance(settings_json, str) else settings_json
    if rescore is not None and not focus:
        raise ValueError("scored_pairs: rescore names pairs for a focused scoring only")
    linker = (focused_linker(df, settings, spark, focus, timings, also=rescore) if focus
              else make_linker(df, settings, spark))
    scored = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    ).as_spark_dataframe()
    # The model scores pairs; the guard has the last word, as for deterministic edges:
    # a household member who agrees on everything but the given name is not a match.
    scored = drop_contradictions(scored, with_record_id(df), birthdates=False, names=names)
    # Splink puts the smaller id on the left already; normalise anyway for a stable key.
    lo = F.least("record_id_l", "record_id_r")
    hi = F.greatest("record_id_l", "record_id_r")
    return scored.select(
        lo.alias("record_id_l"), hi.alias("record_id_r"),
        F.col("match_probability").cast("double").alias("match_probability"),
        F.col("match_weight").cast("double").alias("match_weight"),
        _explanation_column(scored, settings).alias("explanation"),
    )


def combine_edges(det: "DataFrame", prob: "DataFrame") -> "DataFrame":
    """One row per pair of deterministic edges `det` and scored pairs `prob`; a pair
    found both ways is deterministic, keeping the model's weights as its explanation."""
    from pyspark.sql import functions as F

    joined = det.join(prob, ["record_id_l", "record_id_r"], "full_outer")
    is_det = F.col("match_key").isNotNull()
    return joined.select(
        "record_id_l",
        "record_id_r",
        F.when(is_det, F.lit(1.0)).otherwise(F.col("match_probability"))
        .alias("match_probability"),
        "match_weight",
        F.when(is_det, F.lit("deterministic")).otherwise(F.lit("probabilistic"))
        .alias("match_type"),
        "match_key",
        F.coalesce("explanation", F.create_map().cast("map<string,double>"))
        .alias("explanation"),
    )


class RunEdges(NamedTuple):
    edges: "DataFrame"  # every edge of the run (see `combine_edges`)
    oversized: "DataFrame"  # (id_column, key): values shared too widely to link on


def predict_run(
    settings_json: dict[str, Any] | str,
    df: "DataFrame",
    spark: "SparkSession",
    threshold: float = DEFAULT_THRESHOLD,
    max_deterministic_group: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
    timings: Timings | None = None,
) -> RunEdges:
    """All edges of a run: deterministic ones plus Splink pairs with probability >=
    `threshold` (lower it to keep weak pairs for review). A pair found both ways is
    reported once as deterministic, keeping the model's weights as its explanation.
    Probabilistic pairs that contradict (`contradiction_sql`, with its name veto when
    `names`) are dropped. Both parts are checkpointed, so that their seconds (in
    `timings`) are their own."""
    timings = timings or Timings()
    with timings.part("splink pairs"):
        prob = scored_pairs(settings_json, df, spark, threshold, names).localCheckpoint(
            eager=True)
    with timings.part("deterministic"):
        det = deterministic_edges_and_oversized(df, spark, max_deterministic_group, names)
        edges = det.edges.localCheckpoint(eager=True)
    return RunEdges(combine_edges(edges, prob), det.oversized)
