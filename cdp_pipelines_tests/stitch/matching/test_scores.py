"""Scores 0-5 and categories, in Python and in Spark."""

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
