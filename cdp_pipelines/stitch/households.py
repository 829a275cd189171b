"""Households: customers who live together, from Customer 360's merged customers.

The reference is Amperity's Merged Households: two customers are one household when their
best address (merged_customers' address group) is the same normalised address, and they
also share what ``households.match_on`` names (surname, phone or email; all three by
default). Households are the connected components of those links, so a couple with two
surnames joins through their landline, and their child through the surname.

- The address is the Stitch ``address_key``: the full street line with the unit (its
  designator dropped: APT 4B, UNIT 4B and # 4B are one flat), and the postal code (else
  the city). Two flats of one building are two addresses.
- With ``street_match: phonetic`` (the default) every name word of the street line is
  read by its Soundex code, so a mistyped street (MEAGNOLIA, MAGNOLIA) is one address; the
  house number, the unit, the suffix, the directions and the postal code stay exact.
- A street line without a postal code or a city is no address.
- An address Stitch blocks (``stitch_blocklist_values``: shared by too many distinct names,
  or configured, e.g. the brand's store) makes no household, nor does an address shared
  by more than ``households.max_size`` customers (a dormitory, a care home, a mail drop).
- Every customer has a household: one without a housemate is a household of one.
- ``household_id`` is stable across runs by the rule of Stitch's amperity_id
  (stable_ids): a household keeps the id most of its members held; a new one gets a uuid5
  of its smallest amperity_id, in a namespace of its own.
- ``household_rank`` orders a household's members for one-per-household sends: highest
  lifetime revenue first (when the tenant has orders), then most records, then
  amperity_id.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from cdp_pipelines.stitch.normalize import (
    DIRECTION_WORDS,
    SUFFIX_ABBREVIATIONS,
    UNIT_WORDS,
)
from cdp_pipelines.stitch.preprocess import address_key_column
from cdp_pipelines.tenant.stitch import HouseholdSpec

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

HOUSEHOLD_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cdp-pipelines:household_id")
REQUIRED_COLUMNS = ("amperity_id", "surname", "phone", "email", "address", "address2",
                    "postal", "city", "record_count")


def household_members(
    customers: "DataFrame",
    blocklist: "DataFrame | None",
    spec: HouseholdSpec,
    previous: "DataFrame | None" = None,
    revenue: "DataFrame | None" = None,
) -> tuple["DataFrame", dict[str, int]]:
    """(amperity_id, household_id, household_rank, household_size) for every customer.

    customers: merged_customers. blocklist: stitch_blocklist_values (column, value), or
    None. previous: last run's (amperity_id, household_id), or None. revenue:
    (amperity_id, lifetime_revenue), or None without orders. Also returns counts for the
    run log: addresses blocked, addresses above max_size.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.stable_ids import assign_stable_ids

    missing = [c for c in REQUIRED_COLUMNS if c not in customers.columns]
    if missing:
        raise ValueError(f"households: merged_customers lacks columns {missing}")
    # Without a postal code or a city, a street line is no address ('1 MAIN ST' is in every
    # town): such a customer is a household of one.
    address_key = F.when(
        F.col("postal").isNotNull() | F.col("city").isNotNull(),
        address_key_column(F.col("address"), F.col("address2"), F.col("postal"),
                           F.col("city")))
    people = customers.select(
        "amperity_id", "surname", "phone", "email", "record_count",
        "address", address_key.alias("_address_key"),
        (_phonetic_street(address_key) if spec.street_match == "phonetic"
         else address_key).alias("_household_key"),
    )
    at_address = people.where(F.col("_address_key").isNotNull())
    counts = {"blocked_addresses": 0, "oversized_addresses": 0}
    if blocklist is not None:
        blocked = F.broadcast(blocklist.where(F.col("column") == "address")
                              .select(F.col("value").alias("_blocked")).distinct())
        # An automatic block is on the key; a configured one without a postal code is on
        # the street line everywhere.
        on_block = ((F.col("_address_key") == F.col("_blocked"))
                    | (F.col("address") == F.col("_blocked")))
        counts["blocked_addresses"] = (at_address.join(blocked, on_block, "left_semi")
                                       .select("_address_key").distinct().count())
        at_address = at_address.join(blocked, on_block, "left_anti")
    # Residents per address by a window: no second pass over the customers to join back.
    sized = at_address.withColumn(
        "_residents", F.count(F.lit(1)).over(Window.partitionBy("_household_key")))
    counts["oversized_addresses"] = (sized.where(F.col("_residents") > spec.max_size)
                                     .select("_household_key").distinct().count())
    shared = sized.where((F.col("_residents") > 1) & (F.col("_residents") <= spec.max_size))

    # Each address's residents are few (at most max_size): their components are found in
    # one pass per address, in Python, instead of a self-join and an iterative clustering.
    match_on = list(spec.match_on)
    grouped = shared.select("_household_key", "amperity_id", *match_on).groupBy(
        "_household_key").applyInPandas(lambda pdf: _components(pdf, match_on),
                                      "amperity_id string, cluster_id string")
    clusters = (people.select(F.col("amperity_id").alias("record_id"))
                .join(grouped.withColumnRenamed("amperity_id", "record_id"), "record_id", "left")
                .select("record_id", F.coalesce("cluster_id", "record_id").alias("cluster_id")))
    previous_ids = (previous.select(F.col("amperity_id").alias("record_id"),
                                    F.col("household_id").alias("amperity_id"))
                    if previous is not None else None)
    assignments, _, _ = assign_stable_ids(clusters, previous_ids, HOUSEHOLD_ID_NAMESPACE)
    members = assignments.select(F.col("record_id").alias("amperity_id"),
                                 F.col("amperity_id").alias("household_id"))
    ranked = members.join(people.select("amperity_id", "record_count"), "amperity_id")
    order = [F.col("record_count").desc(), F.col("amperity_id")]
    if revenue is not None:
        ranked = ranked.join(revenue.select("amperity_id", "lifetime_revenue"), "amperity_id",
                             "left")
        order.insert(0, F.coalesce(F.col("lifetime_revenue"), F.lit(0)).desc())
    by_household = Window.partitionBy("household_id")
    out = ranked.select(
        "amperity_id", "household_id",
        F.row_number().over(by_household.orderBy(*order)).alias("household_rank"),
        F.count(F.lit(1)).over(by_household).alias("household_size"),
    )
    return out, counts


def _phonetic_street(address_key: "Column") -> "Column":
    """The address key with each name word of its street line (three letters or more, not
    a suffix, a direction or a unit designator) replaced by its Soundex code."""
    from pyspark.sql import functions as F

    kept = sorted(SUFFIX_ABBREVIATIONS | DIRECTION_WORDS | UNIT_WORDS)
    known = F.array(*[F.lit(w) for w in kept])
    street = F.split(F.element_at(F.split(address_key, r"\|"), 1), " ")
    sketch = F.transform(street, lambda w: F.when(
        w.rlike("^[A-Z]{3,}$") & ~F.array_contains(known, w), F.soundex(w)).otherwise(w))
    postal = F.substring_index(address_key, "|", -1)
    return F.concat_ws("|", F.array_join(sketch, " "), postal)


def _components(residents: "pd.DataFrame", match_on: list[str]) -> "pd.DataFrame":
    """(amperity_id, cluster_id) for the residents of one address: connected components of
    "shares a value of ``match_on``", each named by its smallest amperity_id."""
    import pandas as pd

    ids = sorted(residents["amperity_id"])
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in match_on:
        first: dict[str, str] = {}
        for amperity_id, value in zip(residents["amperity_id"], residents[column]):
            if value is None or value != value:  # NULL or NaN shares nothing
                continue
            if value in first:
                a, b = root(first[value]), root(amperity_id)
                parent[max(a, b)] = min(a, b)
            else:
                first[value] = amperity_id
    return pd.DataFrame({"amperity_id": ids, "cluster_id": [root(i) for i in ids]})


def household_attributes(members: "DataFrame", customers: "DataFrame",
                         transactions: "DataFrame | None") -> "DataFrame":
    """One row per household: its size, its first member's address and surname (as
    written), how long it has been known, and, with orders, its revenue and order count."""
    from pyspark.sql import functions as F

    head = members.where(F.col("household_rank") == 1).join(customers, "amperity_id")
    out = head.select(
        "household_id", F.col("household_size").alias("members"),
        F.col("amperity_id").alias("primary_amperity_id"),
        "surname_display", "address_display", "address2_display", "city_display", "state",
        "postal", "country",
    )
    rolled = members.join(customers.select("amperity_id", "first_seen", "last_seen"),
                          "amperity_id")
    aggregates = [F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen")]
    if transactions is not None:
        rolled = rolled.join(transactions.select(
            "amperity_id", "lifetime_revenue", "lifetime_order_count",
            F.col("latest_order_date")), "amperity_id", "left")
        aggregates += [
            F.coalesce(F.sum("lifetime_revenue"), F.lit(0)).alias("lifetime_revenue"),
            F.coalesce(F.sum("lifetime_order_count"), F.lit(0)).alias("lifetime_order_count"),
            F.max("latest_order_date").alias("latest_order_date"),
        ]
    return out.join(rolled.groupBy("household_id").agg(*aggregates), "household_id")
