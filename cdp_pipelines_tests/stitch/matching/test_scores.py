"""Scores 0-5 and categories, in Python and in Spark."""

import pytest

from cdp_pipelines.stitch import matching


def test_score_bands():
    assert matching.score_0_5(1.0) == (5, "exact")
    assert matching.score_0_5(0.995) == (4, "strong")
    assert matching.score_0_5(0.9) == (3, "good")
    assert matching.score_0_5(0.6) == (2, "weak")
    assert matching.score_0_5(0.2) == (1, "poor")
    assert matching.score_0_5(0.01) == (0, "none")
    assert matching.score_0_5(None) == (0, "none")


def test_with_scores_matches_python_bands(spark):
    probs = [1.0, 0.995, 0.9, 0.6, 0.2, 0.01]
    df = spark.createDataFrame([(p,) for p in probs], "match_probability double")
    got = [(r.score, r.match_category) for r in matching.with_scores(df).collect()]
    assert got == [matching.score_0_5(p) for p in probs]


def test_scores_are_kept_from_a_margin_below_the_link_threshold() -> None:
    """From 0.5 where pairs link from 0.9 (3.2 bits above); from one bit below where
    they link from 0.5 or a little above, so that a pair an incremental run's term
    frequencies lift over the threshold is among the kept pairs it scores again."""
    from cdp_pipelines.stitch.matching import stored_from

    assert stored_from(0.9) == 0.5
    assert stored_from(0.5) == pytest.approx(1 / 3)
    assert stored_from(2 / 3) == pytest.approx(0.5)
    assert stored_from(0.6) == pytest.approx(0.6 / 1.4)  # odds 1.5 halved: 0.75
    assert stored_from(0.0) == 0.0
