"""The treatment/control split: stable, order- and membership-independent, fair shares."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cdp_pipelines.activation.campaigns import assign, bucket, bucket_sql
from cdp_pipelines.tenant.audiences import CampaignSpec

IDS = [f"id-{i:05d}" for i in range(10_000)]


@pytest.fixture(scope="module")
def campaign() -> CampaignSpec:
    return CampaignSpec.model_validate({
        "name": "split_test", "include": "everyone",
        "treatments": [{"name": "a", "percent": 45, "destination": "x"},
                       {"name": "b", "percent": 35, "destination": "y"},
                       {"name": "c", "percent": 12.5, "destination": "y"}],
        "control": {"percent": 7.5},
    })


def test_shares_follow_the_percents(campaign):
    counts = Counter(assign(campaign, i) for i in IDS)
    expected = {"a": 0.45, "b": 0.35, "c": 0.125, "control": 0.075}
    for group, share in expected.items():
        # 10,000 draws: one standard deviation is at most 0.5 percentage points.
        assert abs(counts[group] / len(IDS) - share) < 0.015, (group, counts)


def test_same_groups_on_rerun_in_any_order_and_after_new_members(campaign):
    first = {i: assign(campaign, i) for i in IDS[:5000]}
    shuffled = IDS[:5000] + [f"new-{i}" for i in range(3000)]
    random.Random(7).shuffle(shuffled)
    second = {i: assign(campaign, i) for i in shuffled}
    assert all(second[i] == group for i, group in first.items())


def test_campaigns_split_independently(campaign):
    other = campaign.model_copy(update={"name": "another_campaign"})
    same = sum(assign(campaign, i) == assign(other, i) for i in IDS)
    # Independent draws agree with probability sum(p^2) ~ 0.34, not 1.
    assert 0.30 < same / len(IDS) < 0.38


def test_trino_computes_the_same_buckets(admin):
    ids = IDS[:300] + ["", "Ümlaut-ü", "a'b"]
    values = ", ".join("(?)" for _ in ids)
    rows = admin.execute(
        f"SELECT id, {bucket_sql(repr('split_test'), 'id')} FROM (VALUES {values}) AS v(id)", ids)
    assert {i: b for i, b in rows} == {i: bucket("split_test", i) for i in ids}
