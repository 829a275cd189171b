"""A Splink linker over the matching frame, for training and prediction alike."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from cdp_pipelines.stitch.matching.blocking import DOOR_COLUMNS
from cdp_pipelines.stitch.matching.comparisons import comparison_inputs
from cdp_pipelines.stitch.matching.records import (
    SOUNDEX_COLUMNS,
    model_columns,
    with_record_id,
)
from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink import Linker


def linker_input(df: "DataFrame", settings: dict,
                 extra_columns: tuple[str, ...] = ()) -> "DataFrame":
    """`df` (the matching frame) as Splink reads it for `settings`: record_id and only the
    columns the model reads (and `extra_columns`, carried along: a focused run's flag), as
    strings; refuses a frame without a compared column."""
    from pyspark.sql import functions as F

    df = with_record_id(df)
    needed = ["record_id", *model_columns(df.columns)]
    if "sk" in df.columns:
        needed.append("sk")
    rules_sql = json.dumps(settings.get("blocking_rules_to_generate_predictions", []))
    needed += [c for c in (*sorted(SOUNDEX_COLUMNS), *DOOR_COLUMNS)
               if c in df.columns and c in rules_sql and c not in needed]
    needed += [c for c in extra_columns if c not in needed]
    compared = {c for comp in settings["comparisons"] for c in comparison_inputs(comp)}
    missing = sorted(compared - set(df.columns))
    if missing:
        raise ValueError(
            f"Stitch model expects column(s) {missing} that the input does not have; "
            "the tenant's columns changed since the model was trained: retrain it"
        )
    # Comparisons work on strings (dates as ISO yyyy-MM-dd), whatever the input types.
    return df.select("record_id", *[F.col(c).cast("string").alias(c) for c in needed[1:]])


def make_linker(df: "DataFrame", settings: dict, spark: "SparkSession") -> "Linker":
    """A Splink linker for `settings` over `df` (the matching frame; see `linker_input`)."""
    from splink import Linker

    sdf = splink_db_api(spark).register(linker_input(df, settings))
    return Linker(sdf, settings, log_level=logging.WARNING)
