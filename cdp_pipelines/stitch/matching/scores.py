"""Scores 0-5 and categories of edges, by their match probability."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# (min probability, score, category): documented cut-offs for unified_scores.
SCORE_BANDS = (
    (0.9999, 5, "exact"),
    (0.99, 4, "strong"),
    (0.9, 3, "good"),
    (0.5, 2, "weak"),
    (0.1, 1, "poor"),
    (0.0, 0, "none"),
)


# unified_scores keeps the model's pairs from this many bits of match weight below the
# probability from which pairs link (and from 0.5 at the most). An incremental run scores
# the kept pairs of unchanged records again with this run's term frequencies, so a pair
# they lift by less than this links as a full run links it; where pairs link from 0.9
# the margin is already 3.2 bits.
RESCORE_MARGIN_BITS = 1.0


def stored_from(link_at: float) -> float:
    """The probability from which unified_scores keeps a scored pair, for pairs that link
    from `link_at`: 0.5, or lower where `link_at` is within RESCORE_MARGIN_BITS of it."""
    if not 0.0 < link_at < 1.0:
        return min(link_at, 0.5)
    weight = math.log2(link_at / (1.0 - link_at)) - RESCORE_MARGIN_BITS
    return min(0.5, 1.0 / (1.0 + 2.0 ** -weight))


def score_0_5(match_probability: float | None) -> tuple[int, str]:
    """Score and category of a pair (see SCORE_BANDS): >= 0.9999 5 exact (deterministic
    edges are 1.0), >= 0.99 4 strong, >= 0.9 3 good, >= 0.5 2 weak, >= 0.1 1 poor,
    else 0 none."""
    if match_probability is None or math.isnan(match_probability):
        return 0, "none"
    for cutoff, score, category in SCORE_BANDS:
        if match_probability >= cutoff:
            return score, category
    return 0, "none"


def with_scores(edges: "DataFrame") -> "DataFrame":
    """Add `score` (0-5) and `match_category` to an edges frame, same cut-offs as
    `score_0_5`."""
    from pyspark.sql import functions as F

    p = F.col("match_probability")
    score = category = None
    for cutoff, s, c in SCORE_BANDS:
        cond = p >= F.lit(cutoff)
        score = F.when(cond, F.lit(s)) if score is None else score.when(cond, F.lit(s))
        category = (F.when(cond, F.lit(c)) if category is None
                    else category.when(cond, F.lit(c)))
    return edges.withColumn("score", score.otherwise(F.lit(0))).withColumn(
        "match_category", category.otherwise(F.lit("none")))
