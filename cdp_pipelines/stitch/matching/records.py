"""The records Stitch compares: their node id and the columns that play a part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

STRONG_ID_COLUMNS = ("email_norm", "phone_norm", "loyalty_id_norm")
NAME_COLUMNS = ("given_name_norm", "surname_norm", "full_name_norm")
MODEL_COLUMNS = (
    "given_name_norm",
    "surname_norm",
    "full_name_norm",
    "email_norm",
    "phone_norm",
    "address_norm",
    "address2_norm",
    "city_norm",
    "state_norm",
    "postal_norm",
    "country_norm",
    "birthdate_norm",
    "gender_norm",
    "loyalty_id_norm",
)
# Preprocess's Soundex codes of both names (given name's canonical form).
SOUNDEX_COLUMNS = frozenset({"given_name_soundex", "surname_soundex"})


def fk_columns(columns: Iterable[str]) -> list[str]:
    return sorted(c for c in columns if c.startswith("fk_"))


def strong_id_columns(columns: Iterable[str]) -> list[str]:
    """Exact identifiers that link two records on their own (subject to the guards)."""
    cols = list(columns)
    return [c for c in STRONG_ID_COLUMNS if c in cols] + fk_columns(cols)


def model_columns(columns: Iterable[str]) -> list[str]:
    """The columns the Splink model may compare, among those present."""
    cols = set(columns)
    return [c for c in MODEL_COLUMNS if c in cols] + fk_columns(cols)


def with_record_id(df: "DataFrame") -> "DataFrame":
    """Add `record_id` = source:pk, the unique node id of Stitch."""
    from pyspark.sql import functions as F

    missing = [c for c in ("source", "pk") if c not in df.columns]
    if missing:
        raise ValueError(
            f"Stitch input is missing column(s) {missing}; preprocess must emit "
            f"'source' and 'pk' (columns found: {df.columns})"
        )
    if "record_id" in df.columns:
        return df
    return df.withColumn(
        "record_id", F.concat(F.col("source").cast("string"), F.lit(":"),
                              F.col("pk").cast("string"))
    )
