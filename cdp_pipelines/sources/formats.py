"""Read one landed file into a Spark DataFrame of text columns, keeping malformed rows.

Every column comes back as a string (typing happens later, per field, so a bad value
quarantines its row instead of failing the load). A row the reader cannot parse (a
CSV row with the wrong number of fields, a JSON line that does not parse) comes back
with its raw text in ``_corrupt_record``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cdp_pipelines.config.models import FeedSpec, FormatSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CORRUPT = "_corrupt_record"


class UnreadableFileError(ValueError):
    """A file that cannot be read at all (missing columns, not the declared format)."""


def _csv_options(fmt: FormatSpec) -> dict[str, str]:
    return {
        "header": str(fmt.header).lower(),
        "sep": fmt.field_delimiter,
        "quote": fmt.quote,
        "escape": fmt.escape,
        "encoding": fmt.encoding,
        "multiLine": "false",
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT,
    }


def read_raw(spark: "SparkSession", path: Path, fmt: FormatSpec, feed: FeedSpec) -> "DataFrame":
    """Read ``path`` as declared by ``fmt``; columns are the feed's file columns as text."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    wanted = [f.file_column for f in feed.fields]
    location = str(path)
    try:
        if fmt.type in ("csv", "tsv", "psv"):
            options = _csv_options(fmt)
            header = spark.read.options(**options).csv(location).columns
            if not fmt.header:
                header = wanted
            schema = StructType([StructField(c, StringType()) for c in header]
                                + [StructField(CORRUPT, StringType())])
            df = spark.read.options(**options).schema(schema).csv(location)
        elif fmt.type == "jsonl":
            schema = StructType([StructField(c, StringType()) for c in wanted]
                                + [StructField(CORRUPT, StringType())])
            df = (spark.read.schema(schema)
                  .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT,
                           encoding=fmt.encoding)
                  .json(location))
            header = wanted
        else:
            df = spark.read.parquet(location)
            header = df.columns
            df = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in header],
                           F.lit(None).cast("string").alias(CORRUPT))
    except Exception as exc:  # noqa: BLE001 - Spark raises many kinds; say which file
        raise UnreadableFileError(f"{path}: cannot be read as {fmt.type}: {exc}") from exc
    missing = [c for c in wanted if c not in header]
    if missing:
        raise UnreadableFileError(
            f"{path}: columns {missing} declared in feed {feed.name!r} are not in the file "
            f"(it has {header})"
        )
    return df.select(*[F.col(f"`{c}`") for c in wanted], F.col(CORRUPT))
