"""Scoring only the pairs that hold a flagged record (new or changed since the last run).

Splink's blocking costs a join per prediction blocking rule over every record it is
given, however few pairs come out (at 1M records and 2% flagged, 43 s of its 89 s went to
the 25 rules' joins over the flagged records' block partners). So an incremental run finds
those pairs itself, every rule at once (`focused_pairs`), registers them with Splink as
the blocked pairs to score, and gives it only the records they hold plus the
term-frequency tables of all records: the same candidate pairs, with the same weights, as
a run over all records.
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

# The match_key of a pair scored again (`focused_linker`'s `also`), not by a rule.
RESCORED_KEY = "rescored"


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


def focused_pairs(frame: "DataFrame", settings: dict[str, Any], flag: str) -> "DataFrame":
    """Splink's blocked pairs (match_key, join_key_l, join_key_r) of `frame` (Splink's
    input: record_id and the model's columns) that hold a record flagged '1' in `flag`:
    the pairs, orientation (join_key_l < join_key_r) and match_key (the first prediction
    blocking rule that makes the pair) that Splink's own blocking of all of `frame` gives.

    A rule of equalities is one key per side: a record pairs with a flagged one when its
    left key equals the flagged record's right key, or its right key the flagged one's
    left key (NULL parts match nothing, as in the rule). Every rule's keys are found in one
    pass over `frame` and joined to the flagged records' keys at once, so the cost is one
    join, not one per rule, and no pair of two unflagged records is ever formed; any other
    rule is a join of its own between the flagged records and `frame`."""
    from functools import reduce

    from pyspark.sql import functions as F

    flagged = frame.where(F.col(flag) == "1")
    found = []  # (rule, join_key_l, join_key_r)

    def key(rule_no: int, side: str, exprs: list[str]):
        parts = [F.expr(e).cast("string") for e in exprs]
        whole = reduce(lambda a, b: a & b, [p.isNotNull() for p in parts])
        return F.when(whole, F.struct(F.lit(rule_no).alias("rule"), F.lit(side).alias("side"),
                                      F.array(*parts).alias("values")))

    own, wanted = [], []  # each record's keys; the keys a flagged record pairs with
    for rule_no, rule in enumerate(_rules(settings)):
        sides = _sides(rule)
        if sides is None:
            for left, right in ((flagged, frame), (frame, flagged)):
                ordered = F.col("l.record_id") < F.col("r.record_id")
                found.append(left.alias("l").join(right.alias("r"), F.expr(rule) & ordered)
                             .select(F.lit(rule_no).alias("rule"),
                                     F.col("l.record_id").alias("l"),
                                     F.col("r.record_id").alias("r")))
            continue
        left, right = sides
        if left == right:  # symmetric: one key, either record on the left
            own.append(key(rule_no, "", left))
            wanted.append(own[-1])
        else:  # "l": the record's left key meets the flagged one's right key
            own += [key(rule_no, "l", left), key(rule_no, "r", right)]
            wanted += [key(rule_no, "l", right), key(rule_no, "r", left)]
    if own:
        targets = flagged.select(F.col("record_id").alias("f"),
                                 F.explode(F.array(*wanted)).alias("_key"))
        keys = frame.select("record_id", F.explode(F.array(*own)).alias("_key")).join(
            F.broadcast(targets.select("_key").distinct()), "_key", "left_semi")
        met = keys.join(targets, "_key").where(F.col("record_id") != F.col("f"))
        side = F.col("_key.side")
        lo, hi = F.least("record_id", "f"), F.greatest("record_id", "f")
        # The other record is Splink's left when the keys say so and its id is smaller.
        smaller = F.col("record_id") < F.col("f")
        met = met.where((side == "") | ((side == "l") == smaller))
        found.append(met.select(F.col("_key.rule").alias("rule"), lo.alias("l"),
                                hi.alias("r")))
    pairs = reduce(lambda a, b: a.unionByName(b), found)
    return pairs.groupBy("l", "r").agg(F.min("rule").alias("rule")).select(
        F.col("rule").cast("string").alias("match_key"), F.col("l").alias("join_key_l"),
        F.col("r").alias("join_key_r"))


def term_frequency_columns(settings: dict[str, Any]) -> list[str]:
    """The columns whose term frequencies adjust the model's weights."""
    return sorted({level["tf_adjustment_column"] for comp in settings["comparisons"]
                   for level in comp["comparison_levels"]
                   if level.get("tf_adjustment_column")})


def term_frequency_tables(frame: "DataFrame", columns: list[str]) -> dict[str, "DataFrame"]:
    """{column: (column, tf_column)}: each value's share of the non-null values of the
    string `column` of `frame`, as Splink computes it
    (`term_frequencies_for_single_column_sql`); every column counted in one pass."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    cells = F.explode(F.array(*[F.struct(F.lit(c).alias("column"), F.col(c).alias("value"))
                                for c in columns])).alias("cell")
    counts = (frame.select(cells).where("cell.value IS NOT NULL")
              .groupBy("cell.column", "cell.value").count().localCheckpoint(eager=True))
    totals = {r["column"]: r["total"] for r in
              counts.groupBy("column").agg(F.sum("count").alias("total")).collect()}
    return {c: counts.where(F.col("column") == c).select(
                F.col("value").alias(c),
                (F.col("count") / F.lit(float(totals.get(c, 1)))).alias(f"tf_{c}"))
            for c in columns}


def focused_linker(df: "DataFrame", settings: dict[str, Any], spark: "SparkSession",
                   flag: str, timings: Timings | None = None,
                   also: "DataFrame | None" = None) -> "Linker":
    """A Splink linker whose `predict` scores the pairs of `df` (the matching frame)
    holding a record flagged '1' in string column `flag`: their blocked pairs
    (`focused_pairs`) registered for prediction, over only the records they hold, with the
    term frequencies of every record of `df`. `also`: more pairs of `df` to score
    (record_id_l < record_id_r), none holding a flagged record: last run's pairs, whose
    weights move with the term frequencies. `timings` gets the seconds of finding the
    pairs and of the term frequencies."""
    from pyspark.sql import functions as F
    from splink import Linker

    from cdp_pipelines.stitch.matching.linker import linker_input
    from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

    timings = timings or Timings()
    db_api = splink_db_api(spark)
    with timings.part("focus: pairs"):
        frame = linker_input(df, settings, (flag,)).localCheckpoint(eager=True)
        pairs = focused_pairs(frame, settings, flag)
        if also is not None:
            pairs = pairs.unionByName(also.select(
                F.lit(RESCORED_KEY).alias("match_key"),
                F.col("record_id_l").alias("join_key_l"),
                F.col("record_id_r").alias("join_key_r")))
        pairs = pairs.localCheckpoint(eager=True)
        held = pairs.select(F.col("join_key_l").alias("record_id")).union(
            pairs.select(F.col("join_key_r").alias("record_id")))
        subset = frame.join(held, "record_id", "left_semi").localCheckpoint(eager=True)
        logger.info("Stitch focused scoring: %d pairs (of them %d of last run), "
                    "%d records of %d", pairs.count(),
                    pairs.where(F.col("match_key") == RESCORED_KEY).count(),
                    subset.count(), frame.count())
    linker = Linker(db_api.register(subset), settings, log_level=logging.WARNING)
    linker.table_management.register_blocked_pairs_for_predict(db_api.register(pairs))
    with timings.part("focus: term frequencies"):
        tables = term_frequency_tables(frame, term_frequency_columns(settings))
        for column, table in tables.items():
            linker.table_management.register_term_frequency_lookup(db_api.register(table),
                                                                   column)
    return linker
