"""Probabilistic links with their explanation, beside deterministic ones."""

import pytest

from cdp_pipelines.stitch import matching
from cdp_pipelines_tests.stitch.matching.helpers import (
    frame,
    pairs,
    prior_weight,
    with_fixed_parameters,
)


def test_predict_probabilistic_link_is_explained(spark):
    rows = [
        ("crm", "1", "jonathan", "smith", "js@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "jonathon", "smith", "other@y.io", None, "1980-01-02", "2000", None),
        ("crm", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("pos", "2", "mary", "jones", None, "+61400000002", "1975-05-05", "3000", None),
        ("crm", "3", "peter", "pan", None, None, "1960-03-03", "4000", "A"),
        ("web", "3", "peter", "pan", None, None, "1960-03-03", "4000", "B"),
        ("crm", "4", "jane", "doe", None, None, "1990-09-09", "5000", None),
    ]
    df = frame(spark, rows)
    settings = with_fixed_parameters(matching.build_settings(df.columns))
    edges = pairs(matching.predict(settings, df, spark, threshold=0.5))

    assert set(edges) == {("crm:1", "web:1"), ("crm:2", "pos:2")}
    prob = edges[("crm:1", "web:1")]
    assert prob.match_type == "probabilistic"
    assert prob.match_key is None
    assert 0.5 <= prob.match_probability < 1.0
    weights = prob.explanation
    assert set(weights) == {"given_name_norm", "surname_norm", "email_norm", "phone_norm",
                            "birthdate_norm", "location"}
    assert weights["surname_norm"] > 0 and weights["birthdate_norm"] > 0
    assert weights["email_norm"] < 0  # different emails count against the match
    assert weights["phone_norm"] == 0  # both missing: no evidence
    assert sum(weights.values()) == pytest.approx(prob.match_weight - prior_weight(0.01))

    det = edges[("crm:2", "pos:2")]
    assert (det.match_type, det.match_key, det.match_probability) == (
        "deterministic", "phone_norm", 1.0)
    # the model's view of a deterministic pair is kept as its explanation
    assert det.explanation["birthdate_norm"] > 0 and "phone_norm" in det.explanation
