"""Stitch QA without ground truth: checks an operator can watch on every run.

Real tenants have no answer key, so these measure what over- and under-matching leave
behind in ``stitch/unified_coalesced`` (Amperity publishes the same kind of heuristics):

- ``ids_with_many_given_names``: share of IDs holding more than N distinct given names
  (over-merged people; nicknames make 2-3 normal);
- ``ids_with_conflicting_birthdates``: share of IDs with more than one distinct birthdate;
- ``ids_spanning_many_postal_codes``: share of IDs spanning more than N postal codes;
- ``emails_split_across_ids`` / ``phones_split_across_ids``: share of records whose exact
  email (phone) sits, with the same given name, in more than one ID (one person split:
  under-merging). A value shared by people of different names is a household's and not
  counted; its share is in the metadata (``share_in_several_ids_any_name``);
- ``singleton_share``: share of IDs with one record, within a configured range, with the
  records-per-ID distribution.

Thresholds live in ``stitch.yaml`` under ``qa:``; each check warns above its threshold,
carries its figure, threshold and counts in the metadata, and the figures of the last
runs (``trend``) from the instance's history of the check.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation.
from dataclasses import dataclass

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    multi_asset_check,
)

from cdp_pipelines.keys import stitch_key
from cdp_pipelines.pools import STITCH_POOL
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.tenant.stitch import StitchQaSpec

COALESCED = stitch_key("unified_coalesced")
TREND_RUNS = 10

DESCRIPTIONS = {
    "ids_with_many_given_names": "Share of IDs holding more distinct given names than "
                                 "qa.given_names_per_id (over-merging).",
    "ids_with_conflicting_birthdates": "Share of IDs with more than one distinct birthdate.",
    "ids_spanning_many_postal_codes": "Share of IDs spanning more postal codes than "
                                      "qa.postal_codes_per_id.",
    "emails_split_across_ids": "Share of records whose exact email sits, with the same "
                               "given name, in more than one ID (a person split).",
    "phones_split_across_ids": "Share of records whose exact phone sits, with the same "
                               "given name, in more than one ID (a person split).",
    "singleton_share": "Share of IDs with a single record, within qa.singletons; with the "
                       "records-per-ID distribution.",
}


@dataclass(frozen=True)
class Figure:
    share: float
    count: int
    of: int
    low: float
    high: float
    unit: str  # what `of` counts

    @property
    def passed(self) -> bool:
        return self.low <= self.share <= self.high


def measure(coalesced, qa: StitchQaSpec
            ) -> tuple[dict[str, Figure], dict[str, float], dict[str, float]]:
    """The figures of every check, the records-per-ID distribution, and for emails and
    phones the share of records whose value sits in more than one ID whatever the name."""
    from pyspark.sql import functions as F

    per_id = coalesced.groupBy("amperity_id").agg(
        F.count("*").alias("records"),
        F.countDistinct("given_name").alias("given_names"),
        F.countDistinct("birthdate").alias("birthdates"),
        F.countDistinct("postal").alias("postals"),
    ).cache()
    try:
        row = per_id.agg(
            F.count("*").alias("ids"),
            F.sum((F.col("given_names") > qa.given_names_per_id).cast("int")).alias("names"),
            F.sum((F.col("birthdates") > 1).cast("int")).alias("births"),
            F.sum((F.col("postals") > qa.postal_codes_per_id).cast("int")).alias("postals"),
            F.sum((F.col("records") == 1).cast("int")).alias("singletons"),
            F.percentile_approx("records", [0.5, 0.9, 0.99]).alias("pcts"),
            F.max("records").alias("largest"),
        ).first()
    finally:
        per_id.unpersist()
    ids = row["ids"] or 0

    def share(count, of) -> float:
        return round(count / of, 6) if of else 0.0

    figures = {
        "ids_with_many_given_names": Figure(share(row["names"] or 0, ids), row["names"] or 0,
                                            ids, 0.0, qa.max_ids_with_many_given_names, "IDs"),
        "ids_with_conflicting_birthdates": Figure(
            share(row["births"] or 0, ids), row["births"] or 0, ids, 0.0,
            qa.max_ids_with_conflicting_birthdates, "IDs"),
        "ids_spanning_many_postal_codes": Figure(
            share(row["postals"] or 0, ids), row["postals"] or 0, ids, 0.0,
            qa.max_ids_spanning_many_postal_codes, "IDs"),
        "singleton_share": Figure(share(row["singletons"] or 0, ids), row["singletons"] or 0,
                                  ids, qa.singletons[0], qa.singletons[1], "IDs"),
    }
    shared = {}
    for column, name, high in (("email", "emails_split_across_ids", qa.max_emails_split),
                               ("phone", "phones_split_across_ids", qa.max_phones_split)):
        with_value = coalesced.where(F.col(column).isNotNull())
        # A household shares an email or phone between people with different IDs, rightly:
        # a split is the same value *and* the same given name under more than one ID.
        counts = (with_value.groupBy(column).agg(
                      F.countDistinct("amperity_id").alias("ids"),
                      F.count("*").alias("records"),
                      F.collect_list(F.struct("given_name", "amperity_id")).alias("people"))
                  .select("records", (F.col("ids") > 1).alias("shared"),
                          F.expr("size(array_distinct(transform(filter(people, p -> "
                                 "p.given_name IS NOT NULL), p -> p.given_name))) < "
                                 "size(array_distinct(transform(filter(people, p -> "
                                 "p.given_name IS NOT NULL), p -> struct(p.given_name, "
                                 "p.amperity_id))))").alias("split"))
                  .agg(F.sum("records").alias("records"),
                       F.sum(F.when(F.col("shared"), F.col("records")).otherwise(0)).alias("shared"),
                       F.sum(F.when(F.col("split"), F.col("records")).otherwise(0)).alias("split"))
                  .first())
        records, split = counts["records"] or 0, counts["split"] or 0
        figures[name] = Figure(share(split, records), split, records, 0.0, high, "records")
        shared[name] = share(counts["shared"] or 0, records)
    pcts = row["pcts"] or [0, 0, 0]
    distribution = {"p50": pcts[0], "p90": pcts[1], "p99": pcts[2], "max": row["largest"] or 0}
    return figures, distribution, shared


def _trend(context: AssetCheckExecutionContext, name: str, value: float) -> list[float]:
    """The figure of this check in its last runs, oldest first, and this run's."""
    history = context.instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(COALESCED, name), limit=TREND_RUNS)
    values = []
    for record in reversed(history):
        event = record.event.dagster_event if record.event else None
        metadata = getattr(getattr(event, "event_specific_data", None), "metadata", None) or {}
        if "share" in metadata:
            values.append(float(metadata["share"].value))
    return [*values, value][-TREND_RUNS:]


def build_stitch_qa_checks(qa: StitchQaSpec) -> list:
    specs = [AssetCheckSpec(name, asset=COALESCED, description=text)
             for name, text in DESCRIPTIONS.items()]

    @multi_asset_check(specs=specs, name="stitch_qa", pool=STITCH_POOL,
                       description="Stitch QA without ground truth (stitch.yaml qa:).")
    def stitch_qa(context: AssetCheckExecutionContext, lake: DeltaLake):
        figures, distribution, shared = measure(lake.read("stitch", "unified_coalesced"), qa)
        for name, figure in figures.items():
            trend = _trend(context, name, figure.share)
            metadata = {
                "share": MetadataValue.float(figure.share),
                figure.unit: MetadataValue.int(figure.of),
                "flagged": MetadataValue.int(figure.count),
                "allowed": MetadataValue.text(f"{figure.low:g} to {figure.high:g}"),
                "trend": MetadataValue.text(" → ".join(f"{v:.4f}" for v in trend)),
            }
            if name == "singleton_share":
                metadata["records_per_id"] = MetadataValue.json(distribution)
            if name in shared:
                metadata["share_in_several_ids_any_name"] = MetadataValue.float(shared[name])
            yield AssetCheckResult(
                asset_key=COALESCED, check_name=name, passed=figure.passed,
                severity=AssetCheckSeverity.WARN, metadata=metadata,
                description=(f"{figure.count} of {figure.of} {figure.unit} "
                             f"({figure.share:.2%}); allowed {figure.low:.2%} to "
                             f"{figure.high:.2%}"))

    return [stitch_qa]
