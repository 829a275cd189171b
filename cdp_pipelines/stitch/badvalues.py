"""Stitch stage 2: find identifier values that many different people share, and blank them.

A value is bad when it is attached to too many distinct people to identify anyone: a store's
phone number typed for walk-in customers, 'info@company.com', a shared office address. People
are counted as distinct normalised given names (`given_name_canonical`, so Bob and Robert count
once): one person with 300 orders under one email is fine, 300 first names under one email is
not. A value is flagged automatically when its distinct-name count is strictly greater than the
column's threshold; values the tenant configures are blocked whatever their count.

Columns and the keys they are counted on (all produced by `preprocess`):

| column     | key counted        | configured value matched on  | blanked when blocked             |
|------------|--------------------|------------------------------|----------------------------------|
| email      | email_canonical    | canonical_email(value)       | email_norm, email_canonical      |
| phone      | phone_e164         | normalize_phone(value).e164  | phone_e164, phone_last10         |
| address    | address_key        | normalize_address(value),    | address_norm, address2_norm,     |
|            | (line + postal)    | against address_norm too     | address_full_norm, address_key,  |
|            |                    |                              | house_number                     |
| loyalty_id | loyalty_id_norm    | normalize_loyalty_id(value)  | loyalty_id_norm                  |

Addresses are counted with their postal code (else city) because '100 MAIN ST' exists in
thousands of towns; a configured address without a postal code blocks that street line
everywhere, which is what a tenant blocking its own store address wants.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdp_pipelines.stitch import normalize as nz

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

DEFAULT_THRESHOLDS: dict[str, int] = {"email": 20, "phone": 20, "address": 40, "loyalty_id": 20}
NAME_COLUMN = "given_name_canonical"
BLOCKED_COLUMN = "blocked_values"
BLOCKLIST_SCHEMA = "column string, value string, distinct_names long, records long, reason string"


def _configured_address(value: str, region: str) -> str | None:
    line, sep, place = value.partition("|")
    line_norm = nz.normalize_address(line)
    if not sep or line_norm is None:
        return line_norm
    place = place.strip()
    place_norm = nz.normalize_postal(place, region) if any(c.isdigit() for c in place) else None
    return f"{line_norm}|{place_norm or nz.normalize_city(place) or ''}"


@dataclass(frozen=True)
class _Spec:
    key: str
    alt_keys: tuple[str, ...]
    blanks: tuple[str, ...]
    normalise: Callable[[str, str], str | None]


SPECS: dict[str, _Spec] = {
    "email": _Spec(
        "email_canonical", (), ("email_norm", "email_canonical"), lambda v, r: nz.canonical_email(v)
    ),
    "phone": _Spec(
        "phone_e164", (), ("phone_e164", "phone_last10"), lambda v, r: nz.normalize_phone(v, r).e164
    ),
    "address": _Spec(
        "address_key",
        ("address_norm",),
        ("address_norm", "address2_norm", "address_full_norm", "address_key", "house_number"),
        _configured_address,
    ),
    "loyalty_id": _Spec(
        "loyalty_id_norm", (), ("loyalty_id_norm",), lambda v, r: nz.normalize_loyalty_id(v)
    ),
}


def _check_column(column: str, where: str) -> _Spec:
    if column not in SPECS:
        raise ValueError(
            f"{where}: unknown bad-value column {column!r}; use one of {sorted(SPECS)}."
        )
    return SPECS[column]


def _check_frame(df: "DataFrame", needed: Iterable[str], where: str) -> None:
    missing = sorted(set(needed) - set(df.columns))
    if missing:
        raise ValueError(
            f"{where}: the frame lacks column(s) {missing}; pass the output of "
            "cdp_pipelines.stitch.preprocess.preprocess()."
        )


def normalise_configured(
    configured: Iterable[tuple[str, Any]] | None, default_region: str = "US"
) -> list[tuple[str, str]]:
    """Configured (column, raw value) pairs in the normalised form they are matched in."""
    pairs: list[tuple[str, str]] = []
    for index, entry in enumerate(configured or ()):
        try:
            column, value = entry
        except (TypeError, ValueError):
            raise ValueError(
                f"bad-values configuration entry {index} is {entry!r}; expected (column, value)."
            ) from None
        spec = _check_column(column, f"bad-values configuration entry {index}")
        text = nz.cell_text(value)
        if text is None:
            raise ValueError(f"bad-values configuration entry {index} ({column}) has an empty value.")
        pairs.append((column, spec.normalise(text, default_region) or text))
    return sorted(set(pairs))


def find_bad_values(
    df: "DataFrame",
    thresholds: dict[str, int | None] | None = None,
    configured: Iterable[tuple[str, Any]] | None = None,
    default_region: str = "US",
) -> "DataFrame":
    """The blocklist: DataFrame(column, value, distinct_names, records, reason).

    `thresholds` override DEFAULT_THRESHOLDS per column (None switches automatic detection off
    for that column); `configured` is a list of (column, value) blocked regardless of counts,
    with reason 'configured' (also when the value would have been flagged automatically).
    """
    from pyspark.sql import functions as F

    limits = dict(DEFAULT_THRESHOLDS)
    for column, limit in (thresholds or {}).items():
        _check_column(column, "bad-values thresholds")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(
                f"bad-values thresholds: {column} must be a positive whole number of distinct "
                f"names (or None to switch it off), got {limit!r}."
            )
        limits[column] = limit
    conf_pairs = normalise_configured(configured, default_region)
    conf_columns = {c for c, _ in conf_pairs}
    _check_frame(df, [NAME_COLUMN, *(s.key for s in SPECS.values())], "find_bad_values")

    # One row per (record, identifier value): the key always, alternate keys only where a
    # configured value might match them, so they never count towards automatic flags.
    entries = []
    for column, spec in SPECS.items():
        entries.append(F.struct(F.lit(column).alias("column"), F.col(spec.key).alias("value"),
                                F.lit(True).alias("primary")))
        if column in conf_columns:
            entries.extend(
                F.struct(F.lit(column).alias("column"), F.col(alt).alias("value"),
                         F.lit(False).alias("primary"))
                for alt in spec.alt_keys
            )
    stats = (
        df.select(F.col(NAME_COLUMN).alias("_name"), F.explode(F.array(*entries)).alias("_e"))
        .select("_name", "_e.*")
        .where(F.col("value").isNotNull())
        .groupBy("column", "value", "primary")
        .agg(F.countDistinct("_name").alias("distinct_names"), F.count(F.lit(1)).alias("records"))
    )
    automatic = F.lit(False)
    for column, limit in limits.items():
        if limit is not None:
            automatic = automatic | (
                (F.col("column") == column) & F.col("primary") & (F.col("distinct_names") > limit)
            )
    spark = df.sparkSession
    conf_df = spark.createDataFrame(
        [(c, v, True) for c, v in conf_pairs], "column string, value string, _configured boolean"
    )
    joined = stats.join(conf_df, ["column", "value"], "full_outer").where(
        F.col("_configured").isNotNull() | automatic
    )
    # fold the key row and alternate-key rows of one value together
    return (
        joined.groupBy("column", "value")
        .agg(
            F.max(F.coalesce("distinct_names", F.lit(0))).alias("distinct_names"),
            F.sum(F.coalesce("records", F.lit(0))).alias("records"),
            F.max(F.col("_configured").isNotNull()).alias("_configured"),
        )
        .select(
            "column",
            "value",
            F.col("distinct_names").cast("long"),
            F.col("records").cast("long"),
            F.when(F.col("_configured"), F.lit("configured")).otherwise(F.lit("automatic"))
            .alias("reason"),
        )
    )


def apply_blocklist(
    df: "DataFrame", blocklist: "DataFrame | Iterable[tuple[str, str]]"
) -> "DataFrame":
    """Blank blocked values in the normalised columns; add `blocked_values` to every record.

    `blocked_values` is array<struct<column, value>>: what was removed from that record (empty
    when nothing was). Raw input columns are left as they came. The blocklist is small (values
    shared by many people), so it is collected and matched as literal sets.
    """
    from pyspark.sql import functions as F

    if hasattr(blocklist, "collect"):
        pairs = [(r["column"], r["value"]) for r in blocklist.select("column", "value").collect()]
    else:
        pairs = list(blocklist)
    by_column: dict[str, list[str]] = {}
    for column, value in pairs:
        _check_column(column, "apply_blocklist")
        if value is not None:
            by_column.setdefault(column, []).append(value)
    needed = {c for col in by_column for c in (SPECS[col].key, *SPECS[col].alt_keys, *SPECS[col].blanks)}
    _check_frame(df, needed, "apply_blocklist")

    hits: list["Column"] = []
    blank_when: dict[str, "Column"] = {}
    for column, values in sorted(by_column.items()):
        spec = SPECS[column]
        values = sorted(set(values))
        value = F.when(F.col(spec.key).isin(values), F.col(spec.key))
        for alt in spec.alt_keys:
            value = value.when(F.col(alt).isin(values), F.col(alt))
        matched = value.isNotNull()
        hits.append(F.when(matched, F.struct(F.lit(column).alias("column"), value.alias("value"))))
        for blank in spec.blanks:
            blank_when[blank] = blank_when[blank] | matched if blank in blank_when else matched

    blocked_type = "array<struct<column:string,value:string>>"
    blocked = (
        F.filter(F.array(*hits), lambda h: h.isNotNull()) if hits else F.array()
    ).cast(blocked_type)
    return df.select(
        *[
            F.when(~blank_when[c], F.col(c)).alias(c) if c in blank_when else F.col(c)
            for c in df.columns
            if c != BLOCKED_COLUMN
        ],
        blocked.alias(BLOCKED_COLUMN),
    )
