"""merged_customers: one row per amperity_id, each field group taken whole from one record.

Input is Stitch's `unified_coalesced` (amperity_id, source = feed, source_system = source,
pk, `_updated`, `supersized` and any subset of the normalised PII columns). Records without
an amperity_id are not customers and are left out.

Field groups and their columns:

| group     | columns                                         |
|-----------|-------------------------------------------------|
| name      | given_name, surname, full_name                  |
| email     | email                                           |
| phone     | phone                                           |
| address   | address, address2, city, state, postal, country |
| birthdate | birthdate                                       |
| gender    | gender                                          |

For each group the winner is the record, among those with at least one usable value in the
group (not NULL, not blank), that comes first by:

1. source priority of its `source_system`, lower wins (`SourceSpec.priority`; a source
   missing from `priorities` gets `default_priority`, the same default as the config);
2. completeness: more usable values in the group;
3. recency: newest `_updated` (a NULL `_updated` counts as oldest);
4. `source`, then `pk`, ascending, so reruns pick the same record.

The whole group is copied from the winner, blanks turned to NULL: a street is never paired
with another record's city. The name and address groups also carry the winner's values as
people wrote them (`given_name_display`, ..., `city_display`; see `DISPLAY_COLUMNS`) beside
the normalised match keys; they count for nothing in the choice, so a record's display
casing always goes with its own keys. `<group>_source` and `<group>_pk` name the winning
record (NULL when no record has the group). Also: `source_count` (distinct feeds), `record_count`,
`first_seen` / `last_seen` (min / max `_updated`) and `supersized` (any record flagged).
Every group column is in the output even when the input lacks it (NULL), so the schema
does not depend on which PII a tenant maps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("given_name", "surname", "full_name"),
    "email": ("email",),
    "phone": ("phone",),
    "address": ("address", "address2", "city", "state", "postal", "country"),
    "birthdate": ("birthdate",),
    "gender": ("gender",),
}
GROUP_COLUMNS = tuple(c for columns in FIELD_GROUPS.values() for c in columns)
# Display forms (as written, from unified_coalesced) that travel with a group's winner.
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("given_name_display", "surname_display", "full_name_display"),
    "address": ("address_display", "address2_display", "city_display"),
}
CARRIED_COLUMNS = GROUP_COLUMNS + tuple(c for cs in DISPLAY_COLUMNS.values() for c in cs)
# Output type of a group column the input lacks.
_COLUMN_TYPES = {"birthdate": "date"}
DEFAULT_PRIORITY = 100
REQUIRED_COLUMNS = ("amperity_id", "source", "source_system", "pk", "_updated")


def _usable(df: "DataFrame", name: str) -> "Column":
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    col = F.col(name)
    if isinstance(df.schema[name].dataType, StringType):
        return col.isNotNull() & (F.trim(col) != "")
    return col.isNotNull()


def _priority(priorities: dict[str, int], default_priority: int) -> "Column":
    from pyspark.sql import functions as F

    expr = F.lit(default_priority)
    for source_system, priority in sorted(priorities.items()):
        expr = F.when(F.col("source_system") == source_system, F.lit(int(priority))).otherwise(expr)
    return expr


def merged_customers(
    coalesced: "DataFrame",
    priorities: dict[str, int],
    default_priority: int = DEFAULT_PRIORITY,
) -> "DataFrame":
    """Roll `unified_coalesced` up to one row per amperity_id (rules in the module docstring)."""
    from pyspark.sql import functions as F

    missing = [c for c in REQUIRED_COLUMNS if c not in coalesced.columns]
    if missing:
        raise ValueError(
            f"merged_customers: unified_coalesced lacks columns {missing}; "
            f"it has {coalesced.columns}"
        )

    df = coalesced.where(F.col("amperity_id").isNotNull())
    for name in CARRIED_COLUMNS:
        if name not in df.columns:
            df = df.withColumn(name, F.lit(None).cast(_COLUMN_TYPES.get(name, "string")))
    if "supersized" not in df.columns:
        df = df.withColumn("supersized", F.lit(False))
    # Blank strings carry no information: NULL them before counting and copying.
    df = df.select(
        *[c for c in df.columns if c not in CARRIED_COLUMNS],
        *[
            F.when(_usable(df, name), F.col(name)).alias(name)
            for name in CARRIED_COLUMNS
        ],
    ).withColumn("_priority", _priority(priorities, default_priority))

    aggregates = []
    for group, columns in FIELD_GROUPS.items():
        present = [F.col(c).isNotNull().cast("int") for c in columns]
        completeness = present[0]
        for flag in present[1:]:
            completeness = completeness + flag
        # min() over a struct compares field by field: the sort keys first, then the payload.
        candidate = F.struct(
            F.col("_priority").alias("k1"),
            (-completeness).alias("k2"),
            F.col("_updated").isNull().alias("k3"),
            (-F.unix_micros(F.col("_updated").cast("timestamp"))).alias("k4"),
            F.coalesce(F.col("source").cast("string"), F.lit("")).alias("k5"),
            F.coalesce(F.col("pk").cast("string"), F.lit("")).alias("k6"),
            F.col("source").alias("source"),
            F.col("pk").alias("pk"),
            *[F.col(c).alias(c) for c in columns + DISPLAY_COLUMNS.get(group, ())],
        )
        aggregates.append(F.min(F.when(completeness > 0, candidate)).alias(f"_win_{group}"))

    rolled = df.groupBy("amperity_id").agg(
        *aggregates,
        F.count_distinct("source").alias("source_count"),
        F.count(F.lit(1)).alias("record_count"),
        F.min("_updated").alias("first_seen"),
        F.max("_updated").alias("last_seen"),
        F.coalesce(F.bool_or("supersized"), F.lit(False)).alias("supersized"),
    )

    output = [F.col("amperity_id")]
    for group, columns in FIELD_GROUPS.items():
        win = F.col(f"_win_{group}")
        output += [win[c].alias(c) for c in columns + DISPLAY_COLUMNS.get(group, ())]
        output += [win["source"].alias(f"{group}_source"), win["pk"].alias(f"{group}_pk")]
    output += ["source_count", "record_count", "first_seen", "last_seen", "supersized"]
    return rolled.select(*output)
