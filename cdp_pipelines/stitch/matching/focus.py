"""Scoring only the pairs that hold a flagged record (new or changed since the last run).

Splink's pipeline costs a pass over every record it is given (its input with term
frequencies, written out; each blocking join), however few pairs come out. So an
incremental run gives it only the flagged records and their block partners (every record
that some prediction blocking rule pairs with a flagged one) and the term-frequency tables
of all records, and each blocking rule also asks for a flagged side: the same candidate
pairs, with the same weights, as a run over all records, and no pair of two partners.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from cdp_pipelines.observability import Timings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink import Linker

logger = logging.getLogger(__name__)


def _rules(settings: dict[str, Any]) -> list[str]:
    return [rule["blocking_rule"] if isinstance(rule, dict) else rule
            for rule in settings.get("blocking_rules_to_generate_predictions", [])]


def _sides(rule: str) -> tuple[list[str], list[str]] | None:
    """([left expression, ...], [right expression, ...]) of a rule made only of equalities
    between an expression of l's columns and one of r's ("l.x = r.x", "substr(l.a, 1, 1) =
    substr(r.b, 1, 1)"), each written over a plain record; None for any other rule."""
    left, right = [], []
    for part in re.split(r"\s+AND\s+", rule.strip(), flags=re.IGNORECASE):
        part = part.strip()
        while part.startswith("(") and part.endswith(")") and _balanced(part[1:-1]):
            part = part[1:-1].strip()
        sides = part.split(" = ")
        if len(sides) != 2:
            return None
        a, b = sides
        if not _only(a, "l") or not _only(b, "r"):
            a, b = b, a
            if not _only(a, "l") or not _only(b, "r"):
                return None
        left.append(re.sub(r"\bl\.", "", a))
        right.append(re.sub(r"\br\.", "", b))
    return left, right


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _only(expr: str, side: str) -> bool:
    """`expr` reads columns of `side` (l or r) and of no other side."""
    other = "r" if side == "l" else "l"
    return (re.search(rf"\b{side}\.", expr) is not None
            and re.search(rf"\b{other}\.", expr) is None)


def block_partners(frame: "DataFrame", settings: dict[str, Any], flag: str) -> "DataFrame":
    """The records of `frame` (Splink's input: record_id and the model's columns) that are
    flagged in `flag` or that a prediction blocking rule pairs with a flagged record, in
    either orientation (a rule may compare one column with another).

    A rule of equalities is one key per side: a record is a partner when its left key
    equals a flagged record's right key, or its right key a flagged one's left key (NULL
    parts match nothing, as in the rule). Those are found in one pass over `frame`, its
    keys against the flagged records' (broadcast); any other rule is a join of its own."""
    from functools import reduce

    from pyspark.sql import functions as F

    flagged = frame.where(F.col(flag) == "1")
    found = [flagged.select("record_id")]

    def key(rule_no: int, side: str, exprs: list[str]):
        parts = [F.expr(e).cast("string") for e in exprs]
        whole = reduce(lambda a, b: a & b, [p.isNotNull() for p in parts])
        return F.when(whole, F.struct(F.lit(f"{rule_no}{side}").alias("rule"),
                                      F.array(*parts).alias("values")))

    own, wanted = [], []  # each record's keys; the keys a flagged record pairs with
    for rule_no, rule in enumerate(_rules(settings)):
        sides = _sides(rule)
        if sides is None:
            condition = F.expr(rule)
            found.append(frame.alias("l").join(F.broadcast(flagged).alias("r"), condition,
                                               "left_semi").select("record_id"))
            found.append(frame.alias("r").join(F.broadcast(flagged).alias("l"), condition,
                                               "left_semi").select("record_id"))
            continue
        left, right = sides
        if left == right:  # symmetric: one key, which a flagged record pairs with too
            own.append(key(rule_no, "", left))
            wanted.append(own[-1])
        else:
            own += [key(rule_no, "l", left), key(rule_no, "r", right)]
            wanted += [key(rule_no, "l", right), key(rule_no, "r", left)]
    if own:
        keys = frame.select("record_id", F.explode(F.array(*own)).alias("_key"))
        targets = flagged.select(F.explode(F.array(*wanted)).alias("_key")).distinct()
        found.append(keys.join(F.broadcast(targets), "_key", "left_semi").select("record_id"))
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


def flagged_side_rules(settings: dict[str, Any], flag: str) -> dict[str, Any]:
    """`settings` whose prediction blocking rules each also require a record flagged '1'
    in column `flag` on one side. The condition joins the rule's own, so the join stays
    an equi-join on the rule's keys and a pair of two unflagged records is dropped inside
    it, before any comparison is computed; the number of rules does not change."""
    narrowed = []
    for rule, sql in zip(settings.get("blocking_rules_to_generate_predictions", []),
                         _rules(settings)):
        sql = f"({sql}) AND (l.`{flag}` = '1' OR r.`{flag}` = '1')"
        narrowed.append({**rule, "blocking_rule": sql} if isinstance(rule, dict) else sql)
    return {**settings, "blocking_rules_to_generate_predictions": narrowed}


def focused_linker(df: "DataFrame", settings: dict[str, Any], spark: "SparkSession",
                   flag: str, timings: Timings | None = None) -> "Linker":
    """A Splink linker for the pairs of `df` (the matching frame) holding a record
    flagged '1' in string column `flag` (see `flagged_side_rules`): over the flagged
    records and their block partners, with the term frequencies of every record of `df`.

    Splink's cost on Spark grows with its rules far more than with its records (8,000
    records: 31 s with 20 rules, 56 s with 40), so the flagged side is a condition of
    each rule, not a rule of its own. `timings` gets the seconds of finding the partners
    and of the term frequencies."""
    from splink import Linker

    from cdp_pipelines.stitch.matching.linker import linker_input
    from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

    timings = timings or Timings()
    db_api = splink_db_api(spark)
    with timings.part("focus: partners"):
        frame = linker_input(df, settings, (flag,)).localCheckpoint(eager=True)
        subset = block_partners(frame, settings, flag).localCheckpoint(eager=True)
        counts = frame.selectExpr(f"count_if(`{flag}` = '1') AS flagged",
                                  "count(1) AS records").first()
        logger.info("Stitch focused scoring: %d flagged records, %d with their block "
                    "partners, of %d", counts.flagged, subset.count(), counts.records)
    linker = Linker(db_api.register(subset), flagged_side_rules(settings, flag),
                    log_level=logging.WARNING)
    with timings.part("focus: term frequencies"):
        for column in term_frequency_columns(settings):
            table = term_frequencies(frame, column).localCheckpoint(eager=True)
            linker.table_management.register_term_frequency_lookup(db_api.register(table),
                                                                   column)
    return linker
