"""Stitch's transaction assets: the orders (``unified_transactions``) and order lines
(``unified_itemized_transactions``) of every source, each with its customer's amperity_id
from ``unified_coalesced``."""

from dagster import AssetExecutionContext, MetadataValue, asset

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import STITCH_GROUP, domain_key, stitch_key
from cdp_pipelines.observability import stage
from cdp_pipelines.pools import STITCH_POOL
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.tenant.model import Tenant


def _transaction_feeds(config: Tenant, item_level: bool):
    """Feeds holding orders (order-id + customer-key) or order items (item-sku)."""
    out = []
    for _, feed in config.feeds:
        tags = {t for f in feed.fields for t in f.tags}
        if item_level and "item-sku" in tags:
            out.append(feed)
        elif not item_level and "order-id" in tags and "customer-key" in tags \
                and "item-sku" not in tags:
            out.append(feed)
    return out


def transaction_tables(config: Tenant) -> tuple[bool, bool]:
    """Whether the tenant has unified_transactions and unified_itemized_transactions."""
    orders = bool(_transaction_feeds(config, item_level=False))
    return orders, orders and bool(_transaction_feeds(config, item_level=True))


def _tagged(feed, tag: str):
    from pyspark.sql import functions as F

    fields = feed.fields_tagged(tag)
    return F.col(fields[0].name) if fields else F.lit(None)


def build_transaction_assets(config: Tenant, deployment: Deployment) -> list:
    orders = _transaction_feeds(config, item_level=False)
    items = _transaction_feeds(config, item_level=True)
    coalesced = stitch_key("unified_coalesced")
    assets = []

    def _orders_frame(lake: DeltaLake):
        from pyspark.sql import functions as F

        ids = lake.read("stitch", "unified_coalesced").select(
            F.col("source").alias("_customer_feed"), F.col("pk").alias("_customer_pk"),
            "amperity_id")
        frames = []
        for feed in orders:
            key_field = feed.fields_tagged("customer-key")[0]
            df = lake.read("domain", feed.name).select(
                F.lit(feed.name).alias("source"),
                F.col(key_field.name).cast("string").alias("_customer_pk"),
                F.lit(key_field.references).alias("_customer_feed"),
                _tagged(feed, "order-id").cast("string").alias("order_id"),
                _tagged(feed, "order-date").cast("date").alias("order_date"),
                _tagged(feed, "order-revenue").cast("decimal(18,2)").alias("order_revenue"),
                _tagged(feed, "order-quantity").cast("int").alias("order_quantity"),
            )
            frames.append(df)
        out = frames[0]
        for f in frames[1:]:
            out = out.unionByName(f)
        return out.join(ids, ["_customer_feed", "_customer_pk"], "left").select(
            "amperity_id", "source", "order_id", "order_date", "order_revenue",
            "order_quantity", F.col("_customer_pk").alias("customer_pk"))

    if orders:
        @asset(key=stitch_key("unified_transactions"), group_name=STITCH_GROUP, pool=STITCH_POOL,
               deps=[coalesced, *[domain_key(f.name) for f in orders]],
               kinds={"spark", "delta"},
               description="Orders of every source with the customer's amperity_id.")
        def unified_transactions(context: AssetExecutionContext, lake: DeltaLake):
            with stage(context.log, "stitch: unified_transactions") as s:
                stats = lake.overwrite(_orders_frame(lake), "stitch", "unified_transactions")
                unlinked = lake.read("stitch", "unified_transactions").where(
                    "amperity_id IS NULL").count()
                s.count(stats.rows, "orders")
                s.count(unlinked, "without a customer")
            return lake.table_result(stats, "stitch", "unified_transactions", metadata={
                "orders_without_customer": MetadataValue.int(unlinked)})

        assets.append(unified_transactions)

    if orders and items:
        @asset(key=stitch_key("unified_itemized_transactions"), group_name=STITCH_GROUP,
               pool=STITCH_POOL,
               deps=[stitch_key("unified_transactions"), *[domain_key(f.name) for f in items]],
               kinds={"spark", "delta"},
               description="Order lines of every source with the customer's amperity_id.")
        def unified_itemized_transactions(context: AssetExecutionContext, lake: DeltaLake):
            from pyspark.sql import functions as F

            txn = lake.read("stitch", "unified_transactions").select(
                "order_id", "amperity_id", "order_date", F.col("source").alias("order_source"))
            frames = [lake.read("domain", feed.name).select(
                F.lit(feed.name).alias("source"),
                _tagged(feed, "order-id").cast("string").alias("order_id"),
                _tagged(feed, "item-sku").cast("string").alias("item_sku"),
                _tagged(feed, "item-name").cast("string").alias("item_name"),
                _tagged(feed, "item-category").cast("string").alias("item_category"),
                _tagged(feed, "item-quantity").cast("int").alias("item_quantity"),
                _tagged(feed, "item-revenue").cast("decimal(18,2)").alias("item_revenue"),
            ) for feed in items]
            lines = frames[0]
            for f in frames[1:]:
                lines = lines.unionByName(f)
            df = lines.join(txn, "order_id", "left").select(
                "amperity_id", "source", "order_id", "order_date", "item_sku", "item_name",
                "item_category", "item_quantity", "item_revenue")
            with stage(context.log, "stitch: unified_itemized_transactions") as s:
                stats = lake.overwrite(df, "stitch", "unified_itemized_transactions")
                s.count(stats.rows, "order lines")
            return lake.table_result(stats, "stitch", "unified_itemized_transactions")

        assets.append(unified_itemized_transactions)
    return assets
