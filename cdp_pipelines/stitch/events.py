"""Events with the customer's ``amperity_id`` (``stitch/unified_events``).

Stitch clusters an event source's identifies and aliases records with the customer's
other records (:func:`cdp_pipelines.stitch.inputs.event_stitch_tables`), so every
``user_id`` and ``anonymous_id`` seen in them belongs to an ``amperity_id``. An event
takes the id of its ``user_id``, else of its ``anonymous_id``: the anonymous visits
before a sign-up carry the customer's id once the browser identifies (or is aliased).
Events of browsers that never identified keep ``amperity_id`` NULL.
"""

from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue, asset

from cdp_pipelines.keys import STITCH_GROUP, domain_key, stitch_key
from cdp_pipelines.pools import STITCH_POOL
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.model import Tenant

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENT_COLUMNS = ("message_id", "type", "event", "user_id", "anonymous_id", "properties",
                 "timestamp", "received_at")


def identity_map(lake: DeltaLake, sources: list[EventSourceSpec]) -> "DataFrame":
    """(kind ``user``/``anonymous``, id, amperity_id): where Stitch kept one id in two
    clusters, the one of its latest record."""
    from pyspark.sql import functions as F

    coalesced = lake.read("stitch", "unified_coalesced").select("source", "pk", "amperity_id")
    pairs = []
    for source in sources:
        for kind, table, anonymous in (("identifies", source.table("identifies"),
                                        "anonymous_id"),
                                       ("aliases", source.table("aliases"), "previous_id")):
            records = lake.read("domain", table).join(
                coalesced.where(F.col("source") == table),
                F.col("message_id") == F.col("pk"))
            for id_kind, column in (("user", "user_id"), ("anonymous", anonymous)):
                pairs.append(records.select(F.lit(id_kind).alias("kind"),
                                            F.col(column).alias("id"), "amperity_id",
                                            "timestamp"))
    out = pairs[0]
    for frame in pairs[1:]:
        out = out.unionByName(frame)
    return (out.where(F.col("id").isNotNull())
            .groupBy("kind", "id").agg(F.max_by("amperity_id", "timestamp").alias("amperity_id")))


def unified_events(lake: DeltaLake, sources: list[EventSourceSpec]) -> "DataFrame":
    """Every event of the sources, with the amperity_id of its user or browser."""
    from pyspark.sql import functions as F

    ids = identity_map(lake, sources).cache()
    by_user = ids.where("kind = 'user'").select(F.col("id").alias("user_id"),
                                                F.col("amperity_id").alias("_by_user"))
    by_browser = ids.where("kind = 'anonymous'").select(
        F.col("id").alias("anonymous_id"), F.col("amperity_id").alias("_by_browser"))
    frames = [lake.read("domain", s.table("events")).select(
        F.lit(s.name).alias("source"), *EVENT_COLUMNS) for s in sources]
    events = frames[0]
    for frame in frames[1:]:
        events = events.unionByName(frame)
    return (events.join(by_user, "user_id", "left").join(by_browser, "anonymous_id", "left")
            .select(F.coalesce("_by_user", "_by_browser").alias("amperity_id"), "source",
                    *EVENT_COLUMNS))


def build_unified_events_assets(config: Tenant) -> list:
    """``stitch/unified_events``, when event sources take part in Stitch."""
    sources = [s for s in config.event_sources if s.stitch]
    if not sources:
        return []

    @asset(key=stitch_key("unified_events"), group_name=STITCH_GROUP, pool=STITCH_POOL,
           deps=[stitch_key("unified_coalesced"),
                 *[domain_key(s.table(kind)) for s in sources
                   for kind in ("events", "identifies", "aliases")]],
           kinds={"spark", "delta"},
           description="Events of every source with the amperity_id of their user, or of "
                       "their browser once it identified.")
    def unified_events_asset(context: AssetExecutionContext, lake: DeltaLake):
        stats = lake.overwrite(unified_events(lake, sources), "stitch", "unified_events")
        anonymous = lake.read("stitch", "unified_events").where("amperity_id IS NULL").count()
        return lake.table_result(stats, "stitch", "unified_events", metadata={
            "events_without_customer": MetadataValue.int(anonymous)})

    return [unified_events_asset]
