"""Great Expectations 1.x suites for feeds, run on the domain table's Spark DataFrame.

Two suites per feed: *keys* (primary key present and unique; an ERROR that blocks
downstream work) and *values* (declared patterns such as email shape and the column
set; a WARN). dagster-ge pins GX < 1.0, so GX is called directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdp_pipelines.tenant.sources import FeedSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# A value pattern is a quality signal, not a contract: a feed passes when at least this
# share of its non-null values match (real feeds carry some junk, which Stitch blocks).
PATTERN_MOSTLY = 0.9


@dataclass(frozen=True)
class Outcome:
    expectation: str
    column: str
    success: bool
    unexpected_count: int


def key_expectations(feed: FeedSpec) -> list:
    import great_expectations.expectations as gxe

    out: list = [gxe.ExpectColumnValuesToNotBeNull(column=k) for k in feed.primary_key]
    if len(feed.primary_key) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=feed.primary_key[0]))
    else:
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(feed.primary_key)))
    return out


def value_expectations(feed: FeedSpec) -> list:
    import great_expectations.expectations as gxe

    out: list = [gxe.ExpectTableColumnsToMatchSet(
        column_set=[f.name for f in feed.fields], exact_match=False)]
    for f in feed.fields:
        if f.regex:
            out.append(gxe.ExpectColumnValuesToMatchRegex(
                column=f.name, regex=f.regex, mostly=PATTERN_MOSTLY))
        if not f.nullable and f.name not in feed.primary_key:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=f.name))
    return out


def validate(df: "DataFrame", suite_name: str, expectations: list) -> list[Outcome]:
    """Validate ``df`` against ``expectations`` with an ephemeral GX context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # GX passes disable=False to tqdm itself, so TQDM_DISABLE cannot silence its
    # "Calculating Metrics" bars; the context's own setting does.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_spark(name=f"{suite_name}_source")
    asset = source.add_dataframe_asset(name=f"{suite_name}_asset")
    batch_def = asset.add_batch_definition_whole_dataframe(f"{suite_name}_batch")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(suite)
    # Unexpected values themselves may be personal data: only counts leave this function.
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or "*"
        res = r.result or {}
        outcomes.append(Outcome(
            expectation=config.type,
            column=column,
            success=bool(r.success),
            unexpected_count=int(res.get("unexpected_count") or 0),
        ))
    return outcomes
