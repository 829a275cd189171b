"""Stitch QA without ground truth: each figure on a hand-made unified_coalesced, and the
checks run on a real instance twice, warning above their thresholds, with a trend."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, asset, materialize
from pydantic import ValidationError

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.stitch.qa import COALESCED, build_stitch_qa_checks, measure
from cdp_pipelines.tenant.stitch import StitchQaSpec, StitchSpec

COLUMNS = "amperity_id string, given_name string, birthdate string, postal string, " \
          "email string, phone string"
ROWS = [
    # a1: one person, four records, nicknames: 2 given names, one birthdate.
    ("a1", "robert", "1980-01-01", "10001", "bob@x.com", "+1555"),
    ("a1", "bob", "1980-01-01", "10001", "bob@x.com", None),
    ("a1", "robert", None, "10002", None, "+1555"),
    ("a1", "robert", "1980-01-01", None, None, None),
    # a2: over-merged: four given names, two birthdates, four postal codes.
    ("a2", "ann", "1990-02-02", "20001", "fam@x.com", None),
    ("a2", "joe", "1991-03-03", "20002", None, None),
    ("a2", "sue", None, "20003", None, None),
    ("a2", "tim", None, "20004", None, None),
    # a3 and a4: a household sharing fam@x.com (different names): not a split.
    ("a3", "kim", None, "20001", "fam@x.com", None),
    # a4 and a5: the same person split (same email, same given name).
    ("a4", "lee", None, None, "lee@x.com", "+1777"),
    ("a5", "lee", None, None, "lee@x.com", "+1777"),
]


@pytest.fixture(scope="module")
def coalesced(spark):
    return spark.createDataFrame(ROWS, COLUMNS)


def test_each_figure_counts_what_it_says(coalesced) -> None:
    figures, distribution, shared = measure(coalesced, StitchQaSpec())
    ids = 5
    assert figures["ids_with_many_given_names"].count == 1  # a2 (4 > 3)
    assert figures["ids_with_conflicting_birthdates"].count == 1  # a2
    assert figures["ids_spanning_many_postal_codes"].count == 1  # a2 (4 > 3)
    assert figures["singleton_share"].count == 3 and figures["singleton_share"].of == ids
    # Emails: 6 records carry one; lee@x.com (2 records) is split; fam@x.com is shared by
    # a household (ann, kim): counted as shared, not split.
    emails = figures["emails_split_across_ids"]
    assert (emails.count, emails.of) == (2, 6)
    assert shared["emails_split_across_ids"] == pytest.approx(4 / 6, abs=1e-6)
    phones = figures["phones_split_across_ids"]
    assert (phones.count, phones.of) == (2, 4)
    assert distribution["max"] == 4 and distribution["p50"] == 1
    assert not emails.passed and figures["singleton_share"].passed


def test_thresholds_are_checked_when_the_tenant_loads() -> None:
    with pytest.raises(ValidationError, match="singletons"):
        StitchSpec.model_validate({"qa": {"singletons": [0.8, 0.2]}})
    with pytest.raises(ValidationError, match="max_emails_split"):
        StitchSpec.model_validate({"qa": {"max_emails_split": 2}})
    with pytest.raises(ValidationError, match="extra|not permitted"):
        StitchSpec.model_validate({"qa": {"max_email_split": 0.1}})


def test_the_checks_warn_and_keep_a_trend_over_runs(coalesced, tmp_path) -> None:
    deployment = Deployment(lake_root=str(tmp_path / "lake"))
    lake = DeltaLake.for_deployment(SparkResource.for_deployment(deployment), deployment)
    coalesced.write.format("delta").save(lake.path("stitch", "unified_coalesced"))
    checks = build_stitch_qa_checks(StitchQaSpec(max_emails_split=0.5))

    @asset(key=COALESCED)
    def unified_coalesced() -> None:
        """Written above: the checks read it."""

    instance = DagsterInstance.ephemeral()
    for _ in range(2):
        result = materialize([unified_coalesced, *checks], resources={"lake": lake},
                             instance=instance)
        assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == 6
    assert not evaluations["ids_with_many_given_names"].passed  # 1 of 5 > 1%
    assert evaluations["emails_split_across_ids"].passed  # 2 of 6 < 50%
    assert {e.severity.value for e in evaluations.values()} == {"WARN"}
    trend = evaluations["ids_with_many_given_names"].metadata["trend"].value
    assert trend == "0.2000 → 0.2000"
