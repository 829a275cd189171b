"""``computed_traits``: one row per customer, one column per trait of
``computed_traits.yaml`` (see :mod:`cdp_pipelines.tenant.traits`), from
``stitch/unified_events``.

Every customer of ``merged_customers`` has a row, so a customer without events counts 0
(a segment's "no Order Completed" is ``orders_7d = 0``, not a missing row). Windows end
at the build's time.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation.

import calendar
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue

from cdp_pipelines.keys import C360_GROUP, STANDARD_DB, c360_key, stitch_key
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.traits import ComputedTraitSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TABLE = "computed_traits"


def window_start(now: datetime, amount: int, unit: str) -> datetime:
    """``now`` minus a period; a month back from 31 March is the end of February."""
    if unit in ("day", "week"):
        return now - timedelta(days=amount * (7 if unit == "week" else 1))
    months = amount * (12 if unit == "year" else 1)
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    return now.replace(year=year, month=month,
                       day=min(now.day, calendar.monthrange(year, month)[1]))


def _matches(trait: ComputedTraitSpec, now: datetime) -> "Column":
    from pyspark.sql import functions as F

    match = F.lit(True)
    if trait.call_type():
        match = match & (F.col("type") == trait.call_type())
    if trait.event:
        match = match & (F.col("event") == trait.event)
    if trait.source:
        match = match & (F.col("source") == trait.source)
    if trait.period():
        match = match & (F.col("timestamp") > F.lit(window_start(now, *trait.period())))
    return match


def _aggregate(trait: ComputedTraitSpec, now: datetime) -> "Column":
    from pyspark.sql import functions as F

    match = _matches(trait, now)
    if trait.kind == "count":
        return F.count(F.when(match, F.lit(1))).alias(trait.name)
    if trait.kind == "first_seen":
        return F.min(F.when(match, F.col("timestamp"))).alias(trait.name)
    if trait.kind == "last_seen":
        return F.max(F.when(match, F.col("timestamp"))).alias(trait.name)
    value = F.get_json_object("properties", f"$.{trait.property}")
    # max_by skips rows whose ordering is NULL: events without the property.
    return F.max_by(value, F.when(match & value.isNotNull(), F.col("timestamp"))).alias(
        trait.name)


def computed_traits(events: "DataFrame", customers: "DataFrame",
                    traits: tuple[ComputedTraitSpec, ...], now: datetime) -> "DataFrame":
    """The traits of every customer (``customers``: their amperity_ids) at ``now``."""
    from pyspark.sql import functions as F

    per_customer = (events.where(F.col("amperity_id").isNotNull())
                    .groupBy("amperity_id").agg(*[_aggregate(t, now) for t in traits]))
    out = customers.select("amperity_id").distinct().join(per_customer, "amperity_id", "left")
    counts = {t.name for t in traits if t.kind == "count"}
    return out.select("amperity_id", *[
        F.coalesce(F.col(t.name), F.lit(0)).alias(t.name) if t.name in counts
        else F.col(t.name) for t in traits])


def build_computed_traits_assets(config: Tenant) -> list:
    """``c360/c360/computed_traits`` when the tenant configures traits."""
    traits = config.computed_traits
    if not traits or not any(s.stitch for s in config.event_sources):
        return []

    @table_asset(key=c360_key(STANDARD_DB, TABLE), group_name=C360_GROUP,
                 deps=[stitch_key("unified_events"), c360_key(STANDARD_DB, "merged_customers")],
                 kinds={"spark", "delta"},
                 description="Per customer, traits computed from their events: "
                             + ", ".join(t.name for t in traits) + ".")
    def computed_traits_asset(context: AssetExecutionContext, lake: DeltaLake):
        now = datetime.now(timezone.utc).replace(microsecond=0)
        df = computed_traits(lake.read("stitch", "unified_events"),
                             lake.read("c360", STANDARD_DB, "merged_customers"), traits, now)
        return lake.write_table(df, "c360", STANDARD_DB, TABLE, metadata={
            "as_of": MetadataValue.text(now.isoformat()),
            "traits": MetadataValue.json({t.name: t.model_dump(exclude_none=True)
                                          for t in traits})})

    return [computed_traits_asset]
