"""Household tables of Customer 360 (rules in :mod:`cdp_pipelines.stitch.households`).

- ``c360.household_members``: one row per customer: amperity_id, household_id,
  household_rank (1 = the member a one-per-household campaign sends to), household_size.
- ``c360.households``: one row per household: members, its first member's address and
  surname as written, first/last seen and, with orders, revenue, orders, latest order.

``customer_360`` carries household_id, household_size and (with orders)
household_lifetime_revenue.
"""

from dagster import AssetExecutionContext, MetadataValue

from cdp_pipelines.keys import C360_GROUP, STANDARD_DB, c360_key, stitch_key
from cdp_pipelines.observability import stage
from cdp_pipelines.pools import table_asset
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.tenant.model import Tenant

MEMBERS_TABLE = "household_members"
HOUSEHOLDS_TABLE = "households"


def household_columns(lake: DeltaLake, has_transactions: bool):
    """(amperity_id, household_id, household_size[, household_lifetime_revenue]) for
    customer_360."""
    from pyspark.sql import functions as F

    members = lake.read("c360", STANDARD_DB, MEMBERS_TABLE).select(
        "amperity_id", "household_id", "household_size")
    if not has_transactions or not lake.exists("c360", STANDARD_DB, HOUSEHOLDS_TABLE):
        return members
    revenue = lake.read("c360", STANDARD_DB, HOUSEHOLDS_TABLE).select(
        "household_id", F.col("lifetime_revenue").alias("household_lifetime_revenue"))
    return members.join(revenue, "household_id", "left").select(
        "amperity_id", "household_id", "household_size", "household_lifetime_revenue")


def build_household_assets(config: Tenant, has_transactions: bool, privacy: list) -> list:
    spec = config.stitch.households
    tx_deps = [c360_key(STANDARD_DB, "transaction_attributes")] if has_transactions else []

    @table_asset(key=c360_key(STANDARD_DB, MEMBERS_TABLE), group_name=C360_GROUP,
                 deps=[c360_key(STANDARD_DB, "merged_customers"),
                       stitch_key("stitch_blocklist_values"), *tx_deps, *privacy],
                 kinds={"spark", "delta"},
                 description="Each customer's household: customers at one normalised address "
                             f"who share {', '.join(spec.match_on)} (stitch.yaml households); "
                             "household_id is stable across runs.")
    def household_members(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.stitch.households import household_members as build

        blocklist = (lake.read("stitch", "stitch_blocklist_values")
                     if lake.exists("stitch", "stitch_blocklist_values") else None)
        previous = (lake.read("c360", STANDARD_DB, MEMBERS_TABLE)
                    .select("amperity_id", "household_id").localCheckpoint(eager=True)
                    if lake.exists("c360", STANDARD_DB, MEMBERS_TABLE) else None)
        revenue = (lake.read("c360", STANDARD_DB, "transaction_attributes")
                   if has_transactions else None)
        with stage(context.log, "c360: households") as s:
            members, counts = build(lake.read("c360", STANDARD_DB, "merged_customers"),
                                    blocklist, spec, previous, revenue)
            stats = lake.overwrite(members, "c360", STANDARD_DB, MEMBERS_TABLE)
            out = lake.read("c360", STANDARD_DB, MEMBERS_TABLE)
            households = out.select("household_id").distinct().count()
            shared = out.where("household_size > 1").select("household_id").distinct().count()
            s.count(stats.rows, "customers")
            s.count(households, "households")
            s.count(shared, "with more than one member")
        return lake.table_result(stats, "c360", STANDARD_DB, MEMBERS_TABLE, metadata={
            "households": MetadataValue.int(households),
            "multi_member_households": MetadataValue.int(shared),
            "blocked_addresses": MetadataValue.int(counts["blocked_addresses"]),
            "addresses_above_max_size": MetadataValue.int(counts["oversized_addresses"]),
        })

    @table_asset(key=c360_key(STANDARD_DB, HOUSEHOLDS_TABLE), group_name=C360_GROUP,
                 deps=[c360_key(STANDARD_DB, MEMBERS_TABLE), *tx_deps],
                 kinds={"spark", "delta"},
                 description="One row per household: members, address and surname of its "
                             "first member, and its revenue and orders.")
    def households(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.stitch.households import household_attributes

        tx = (lake.read("c360", STANDARD_DB, "transaction_attributes")
              if has_transactions else None)
        df = household_attributes(lake.read("c360", STANDARD_DB, MEMBERS_TABLE),
                                  lake.read("c360", STANDARD_DB, "merged_customers"), tx)
        with stage(context.log, f"c360: {STANDARD_DB}.{HOUSEHOLDS_TABLE}") as s:
            stats = lake.overwrite(df, "c360", STANDARD_DB, HOUSEHOLDS_TABLE)
            s.count(stats.rows, "rows")
        return lake.table_result(stats, "c360", STANDARD_DB, HOUSEHOLDS_TABLE)

    return [household_members, households]
