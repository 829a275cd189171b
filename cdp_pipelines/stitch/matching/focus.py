"""Scoring only the pairs that hold a flagged record (new or changed since the last run).

Splink's pipeline costs a pass over every record it is given (its input with term
frequencies, written out; each blocking join), however few pairs come out. So an
incremental run gives it only the flagged records and their block partners (every record
that some prediction blocking rule pairs with a flagged one) and the term-frequency tables
of all records: the same candidate pairs, the same weights, as a run over all records that
kept only pairs holding a flagged record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink import Linker


def focused_rules(settings: dict[str, Any], flag: str) -> dict[str, Any]:
    """`settings` whose prediction blocking rules only keep pairs with at least one record
    flagged in string column `flag` ('1').

    Each rule becomes two, flagged on the left and flagged on the right: a condition on one
    side is pushed below the join, so each is a join of the flagged records with all
    records, never every pair of a block filtered afterwards (which an OR of the two sides
    would be). Splink keeps a pair found by both once."""
    def narrowed(rule, side: str):
        extra = f"{side}.{flag} = '1'"
        if isinstance(rule, dict):
            return {**rule, "blocking_rule": f"({rule['blocking_rule']}) AND {extra}"}
        return f"({rule}) AND {extra}"

    return {**settings, "blocking_rules_to_generate_predictions": [
        narrowed(rule, side) for rule in _rules(settings) for side in ("l", "r")]}


def _rules(settings: dict[str, Any]) -> list:
    return settings.get("blocking_rules_to_generate_predictions", [])


def _rule_sql(rule) -> str:
    return rule["blocking_rule"] if isinstance(rule, dict) else rule


def block_partners(frame: "DataFrame", settings: dict[str, Any], flag: str) -> "DataFrame":
    """The records of `frame` (Splink's input: record_id and the model's columns) that are
    flagged in `flag` or that a prediction blocking rule pairs with a flagged record, in
    either orientation (a rule may compare one column with another)."""
    from functools import reduce

    from pyspark.sql import functions as F

    flagged = F.broadcast(frame.where(F.col(flag) == "1"))
    found = [frame.select("record_id").where(F.col(flag) == "1")]
    for rule in _rules(settings):
        condition = F.expr(_rule_sql(rule))
        found.append(frame.alias("l").join(flagged.alias("r"), condition, "left_semi")
                     .select("record_id"))
        found.append(frame.alias("r").join(flagged.alias("l"), condition, "left_semi")
                     .select("record_id"))
    ids = reduce(lambda a, b: a.union(b), found).distinct()
    return frame.join(ids, "record_id", "left_semi")


def term_frequency_columns(settings: dict[str, Any]) -> list[str]:
    """The columns whose term frequencies adjust the model's weights."""
    return sorted({level["tf_adjustment_column"] for comp in settings["comparisons"]
                   for level in comp["comparison_levels"]
                   if level.get("tf_adjustment_column")})


def term_frequencies(frame: "DataFrame", column: str) -> "DataFrame":
    """(column, tf_column): each value's share of the non-null values of `column`, as
    Splink computes it (`term_frequencies_for_single_column_sql`)."""
    from pyspark.sql import functions as F

    present = frame.where(F.col(column).isNotNull())
    total = present.count()
    return present.groupBy(column).agg(
        (F.count(F.lit(1)).cast("double") / F.lit(float(total))).alias(f"tf_{column}"))


def focused_linker(df: "DataFrame", settings: dict[str, Any], spark: "SparkSession",
                   flag: str) -> "Linker":
    """A Splink linker that scores only the pairs of `df` (the matching frame) holding a
    record flagged '1' in string column `flag`: over the flagged records and their block
    partners, with the term frequencies of every record of `df`."""
    import logging

    from splink import Linker

    from cdp_pipelines.stitch.matching.linker import linker_input
    from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

    db_api = splink_db_api(spark)
    frame = linker_input(df, settings, (flag,)).localCheckpoint(eager=True)
    subset = block_partners(frame, settings, flag).localCheckpoint(eager=True)
    linker = Linker(db_api.register(subset), focused_rules(settings, flag),
                    log_level=logging.WARNING)
    for column in term_frequency_columns(settings):
        table = term_frequencies(frame, column).localCheckpoint(eager=True)
        linker.table_management.register_term_frequency_lookup(db_api.register(table),
                                                               column)
    return linker
