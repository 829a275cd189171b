"""Customer 360 attribute tables and the analyst-facing customer_360 profile.

`transaction_attributes(transactions, items, as_of)`: one row per amperity_id that has a
transaction on or before `as_of`. Edge rules:

- Rows with a NULL amperity_id (walk-ins), a NULL order_date, or an order_date after `as_of`
  are left out, so a rerun for a past `as_of` gives that day's answer. order_date may be a
  timestamp; it is truncated to its date.
- A row with negative revenue is a return: its revenue is netted into lifetime and L12M
  revenue, but it is not an order (not counted, never first/second/latest). A NULL revenue
  is an order worth 0.
- Orders of one customer are ordered by (order_date, source, order_id): first and second are
  the first two, latest the last, so same-day orders resolve the same way on every run.
- L12M = orders with order_date in (as_of - 365 days, as_of]: an order exactly 365 days
  before `as_of` is outside, 364 days before is inside.
- avg_order_value = lifetime (net) revenue / lifetime orders, rounded to 2 places; NULL
  without orders. one_and_done = exactly one order.
- lifetime_items: per order, the sum of its itemized quantities when it has itemized rows
  (matched on source + order_id), else its order_quantity; returns subtract. NULL when no
  order says how many items it had.
- RFM deciles 1-10, 10 best, by ntile(10) over the customers with at least one order,
  ordered best first (so a lone customer, or the best of fewer than ten, is a 10).
  Recency = days_since_last_order (fewer is better), frequency = lifetime_order_count,
  monetary = lifetime_revenue. Customers with equal values share the best decile any of
  them drew, so a decile never depends on amperity_id order. rfm_score = the sum (3-30).
  Customers with only returns get NULL deciles.

`customer_attributes(merged, consent)`: one row per merged customer; see its docstring.

`customer_360(merged, transaction_attributes, customer_attributes)`: merged customers left
joined to both, one row per customer. A customer without transactions has 0 orders, 0
revenue, 0 items and one_and_done false; dates, AOV and deciles stay NULL.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

L12M_DAYS = 365
ORDER_POSITIONS = ("first", "second", "latest")
# customer_360 columns that are a known zero, not unknown, for a customer without transactions.
_ZERO_WITHOUT_TRANSACTIONS = (
    "lifetime_order_count", "lifetime_revenue", "lifetime_items", "l12m_revenue",
    "l12m_order_count",
)
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# E.164 allows at most 15 digits; fewer than 7 cannot reach anyone.
PHONE_DIGITS = (7, 15)


def _require(df: "DataFrame", columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; it has {df.columns}")


def _present(name: str) -> "Column":
    from pyspark.sql import functions as F

    return F.col(name).isNotNull() & (F.trim(F.col(name)) != "")


def _decile(best_first: "Column", eligible: str) -> "Column":
    """ntile(10) ordered best first, flipped so 10 is best; ties share their best decile.

    The tile is computed from the rank (the position of the first row of a tie group) with
    ntile's own arithmetic: n rows make buckets of n // 10, the first n % 10 buckets one row
    larger. One window partitioning for all three metrics, so only one shuffle.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    population = Window.partitionBy(eligible)
    position = F.rank().over(population.orderBy(best_first))
    n = F.count(F.lit(1)).over(population)
    size, remainder = F.floor(n / 10), n % 10
    in_large_buckets = remainder * (size + 1)
    tile = F.when(position <= in_large_buckets, F.ceil(position / (size + 1))).otherwise(
        # greatest(): with fewer than 10 rows every row is in a large bucket; never divide by 0.
        remainder + F.ceil((position - in_large_buckets) / F.greatest(size, F.lit(1)))
    )
    return F.when(F.col(eligible), (11 - tile).cast("int"))


def transaction_attributes(
    transactions: "DataFrame", items: "DataFrame | None", as_of: date
) -> "DataFrame":
    """Per-customer order history as of `as_of` (edge rules in the module docstring)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _require(
        transactions,
        ("amperity_id", "source", "order_id", "order_date", "order_revenue"),
        "transaction_attributes: unified_transactions",
    )
    as_of_col = F.lit(as_of).cast("date")
    orders = (
        transactions.withColumn("order_date", F.to_date("order_date"))
        .where(
            F.col("amperity_id").isNotNull()
            & F.col("order_date").isNotNull()
            & (F.col("order_date") <= as_of_col)
        )
        .withColumn(
            "order_quantity",
            F.col("order_quantity") if "order_quantity" in transactions.columns
            else F.lit(None).cast("long"),
        )
    )
    if items is not None:
        _require(
            items,
            ("source", "order_id", "item_quantity"),
            "transaction_attributes: unified_itemized_transactions",
        )
        units = items.groupBy("source", "order_id").agg(
            F.sum("item_quantity").alias("_item_units")
        )
        orders = orders.join(units, ["source", "order_id"], "left").withColumn(
            "_units", F.coalesce("_item_units", "order_quantity")
        )
    else:
        orders = orders.withColumn("_units", F.col("order_quantity"))

    is_order = F.col("order_revenue").isNull() | (F.col("order_revenue") >= 0)
    revenue = F.coalesce(F.col("order_revenue"), F.lit(0))
    orders = orders.withColumn("_is_order", is_order).withColumn("_revenue", revenue)
    position = F.row_number().over(
        Window.partitionBy("amperity_id", "_is_order").orderBy("order_date", "source", "order_id")
    )
    orders = orders.withColumn("_pos", F.when(F.col("_is_order"), position))
    order = F.struct(
        F.col("order_date").alias("date"),
        F.col("source"),
        F.col("order_id").alias("id"),
        F.col("order_revenue").alias("revenue"),
    )
    in_l12m = F.col("order_date") > F.date_sub(as_of_col, L12M_DAYS)

    per_customer = orders.groupBy("amperity_id").agg(
        F.max(F.when(F.col("_pos") == 1, order)).alias("_first"),
        F.max(F.when(F.col("_pos") == 2, order)).alias("_second"),
        F.max(F.when(F.col("_is_order"), order)).alias("_latest"),
        F.count(F.when(F.col("_is_order"), 1)).alias("lifetime_order_count"),
        F.sum("_revenue").alias("lifetime_revenue"),
        F.sum("_units").alias("lifetime_items"),
        F.sum(F.when(in_l12m, F.col("_revenue")).otherwise(F.lit(0))).alias("l12m_revenue"),
        F.count(F.when(in_l12m & F.col("_is_order"), 1)).alias("l12m_order_count"),
    )

    columns = [F.col("amperity_id")]
    for name in ORDER_POSITIONS:
        for field in ("date", "id", "revenue"):
            columns.append(F.col(f"_{name}")[field].alias(f"{name}_order_{field}"))
    count = F.col("lifetime_order_count")
    columns += [
        count,
        F.col("lifetime_revenue"),
        F.col("lifetime_items"),
        F.col("l12m_revenue"),
        F.col("l12m_order_count"),
        F.when(count > 0, F.round(F.col("lifetime_revenue") / count, 2)).alias("avg_order_value"),
        (count == 1).alias("one_and_done"),
        F.datediff(as_of_col, F.col("_latest")["date"]).alias("days_since_last_order"),
    ]
    result = per_customer.select(*columns).withColumn("_has_orders", count > 0)
    result = (
        result.withColumn(
            "recency_decile",
            _decile(F.col("days_since_last_order").asc(), "_has_orders"),
        )
        .withColumn(
            "frequency_decile",
            _decile(F.col("lifetime_order_count").desc(), "_has_orders"),
        )
        .withColumn(
            "monetary_decile",
            _decile(F.col("lifetime_revenue").desc(), "_has_orders"),
        )
    )
    return result.withColumn(
        "rfm_score",
        F.col("recency_decile") + F.col("frequency_decile") + F.col("monetary_decile"),
    ).drop("_has_orders")


def _latest_statement(column: str) -> "Column":
    """The newest non-NULL `column` statement; on equal `_updated` an opt-out wins."""
    from pyspark.sql import functions as F

    # max() over a struct compares field by field: the sort keys first, then the payload.
    statement = F.struct(
        F.col("_updated").isNotNull().alias("k1"),
        F.unix_micros(F.col("_updated").cast("timestamp")).alias("k2"),
        (~F.col(column)).alias("k3"),
        F.coalesce(F.col("source").cast("string"), F.lit("")).alias("k4"),
        F.coalesce(F.col("pk").cast("string"), F.lit("")).alias("k5"),
        F.col(column).alias("value"),
        F.col("opt_in_date").alias("date"),
    )
    return F.max(F.when(F.col(column).isNotNull(), statement))


def customer_attributes(merged: "DataFrame", consent: "DataFrame") -> "DataFrame":
    """Contactability, consent and flags per merged customer.

    - email_opt_in / sms_opt_in: from the consent row with the newest `_updated` among those
      that state that channel (a NULL is no statement; a NULL `_updated` counts as oldest; on
      a tie an opt-out wins). No statement: NULL. `email_consent_date` / `sms_consent_date`
      carry that row's opt_in_date.
    - contactable_email: an email shaped like one and email_opt_in not false.
      contactable_phone: a phone with 7-15 digits and sms_opt_in not false (the only phone
      consent the feeds carry). contactable_address: a street line plus a postal code or a
      city and state (there is no postal-mail opt-out in the consent contract).
    - is_test / is_employee: true when any consent row says so, else false.
    """
    from pyspark.sql import functions as F

    _require(merged, ("amperity_id", "email", "phone", "address", "city", "state", "postal"),
             "customer_attributes: merged_customers")
    _require(consent, ("amperity_id", "_updated"), "customer_attributes: consent")
    for name, kind in (
        ("source", "string"), ("pk", "string"), ("email_opt_in", "boolean"),
        ("sms_opt_in", "boolean"), ("opt_in_date", "date"), ("is_test", "boolean"),
        ("is_employee", "boolean"),
    ):
        if name not in consent.columns:
            consent = consent.withColumn(name, F.lit(None).cast(kind))

    statements = consent.where(F.col("amperity_id").isNotNull()).groupBy("amperity_id").agg(
        _latest_statement("email_opt_in").alias("_email"),
        _latest_statement("sms_opt_in").alias("_sms"),
        F.bool_or("is_test").alias("_is_test"),
        F.bool_or("is_employee").alias("_is_employee"),
    )
    joined = merged.select("amperity_id", "email", "phone", "address", "city", "state",
                           "postal").join(statements, "amperity_id", "left")

    email_opt_in = F.col("_email")["value"]
    sms_opt_in = F.col("_sms")["value"]
    digits = F.length(F.regexp_replace(F.col("phone"), r"\D", ""))
    return joined.select(
        "amperity_id",
        (F.coalesce(F.col("email").rlike(EMAIL_SHAPE), F.lit(False))
         & F.coalesce(email_opt_in, F.lit(True))).alias("contactable_email"),
        (F.coalesce(digits.between(*PHONE_DIGITS), F.lit(False))
         & F.coalesce(sms_opt_in, F.lit(True))).alias("contactable_phone"),
        (_present("address") & (_present("postal") | (_present("city") & _present("state")))).alias(
            "contactable_address"
        ),
        email_opt_in.alias("email_opt_in"),
        F.col("_email")["date"].alias("email_consent_date"),
        sms_opt_in.alias("sms_opt_in"),
        F.col("_sms")["date"].alias("sms_consent_date"),
        F.coalesce(F.col("_is_test"), F.lit(False)).alias("is_test"),
        F.coalesce(F.col("_is_employee"), F.lit(False)).alias("is_employee"),
    )


def customer_360(
    merged: "DataFrame", transaction_attributes: "DataFrame", customer_attributes: "DataFrame",
    households: "DataFrame | None" = None,
) -> "DataFrame":
    """One analyst-facing row per merged customer: profile, order history, consent and,
    when ``households`` (one row per amperity_id) is given, its household's columns."""
    from pyspark.sql import functions as F

    tx_columns = [c for c in transaction_attributes.columns if c != "amperity_id"]
    ca_columns = [c for c in customer_attributes.columns if c != "amperity_id"]
    hh_columns = ([c for c in households.columns if c != "amperity_id"]
                  if households is not None else [])
    inputs = [set(merged.columns), set(tx_columns), set(ca_columns), set(hh_columns)]
    clashes = sorted({c for i, a in enumerate(inputs) for b in inputs[i + 1:] for c in a & b})
    if clashes:
        raise ValueError(f"customer_360: columns {clashes} come from more than one input table")

    tx = transaction_attributes.withColumn("_has_transactions", F.lit(True))
    joined = merged.join(tx, "amperity_id", "left").join(
        customer_attributes, "amperity_id", "left"
    )
    if households is not None:
        joined = joined.join(households, "amperity_id", "left")
    without = F.col("_has_transactions").isNull()
    tx_output = []
    for name in tx_columns:
        if name in _ZERO_WITHOUT_TRANSACTIONS:
            value = F.when(without, F.lit(0)).otherwise(F.col(name))
        elif name == "one_and_done":
            value = F.when(without, F.lit(False)).otherwise(F.col(name))
        else:
            value = F.col(name)
        tx_output.append(value.alias(name))
    return joined.select(*merged.columns, *tx_output, *ca_columns, *hh_columns)
