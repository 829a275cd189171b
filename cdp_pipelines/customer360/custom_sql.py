"""A tenant's custom Customer 360 table: a Spark SQL file run over named views.

Each input DataFrame is registered as a temporary view under its name, the SQL is parsed and
analysed (eagerly, so a typo fails here and not later in a write), and a parse or analysis
error becomes a :class:`CustomSqlError` that names the file, the line and, when Spark knows
it, the column, with the offending line quoted. Views stay registered afterwards: the
session's other custom tables may refer to the same names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Spark's parser reports "(line 4, pos 11)"; the analyser "; line 3 pos 4;". pos is 0-based.
_POSITION = re.compile(r"line (\d+),? pos (\d+)")


class CustomSqlError(ValueError):
    """A custom SQL table's file does not parse or does not resolve."""

    def __init__(self, path: Path, line: int | None, column: int | None, message: str):
        self.path = path
        self.line = line
        self.column = column
        where = str(path)
        if line is not None:
            where += f", line {line}"
            if column is not None:
                where += f", column {column}"
        else:
            where += " (line unknown)"
        super().__init__(f"{where}: {message}")


def _position(sql: str, error: Exception) -> tuple[int | None, int | None]:
    """1-based (line, column) of the error in `sql`, from its query context or message."""
    for context in error.getQueryContext():
        start = context.startIndex()
        if start is not None and 0 <= start < len(sql):
            line_start = sql.rfind("\n", 0, start) + 1
            return sql.count("\n", 0, start) + 1, start - line_start + 1
    match = _POSITION.search(str(error))
    if match:
        return int(match.group(1)), int(match.group(2)) + 1
    return None, None


def _summary(error: Exception) -> str:
    """The first line of Spark's message, without the SQLSTATE and the logical plan."""
    text = str(error).strip().splitlines()[0]
    return re.split(r"\s*SQLSTATE", text)[0].strip()


def run_custom_table(
    spark: "SparkSession", sql: str, path: Path, views: dict[str, "DataFrame"]
) -> "DataFrame":
    """Register `views` by name, run `sql` (read from `path`) and return the analysed result."""
    from pyspark.errors import AnalysisException

    for name, frame in views.items():
        if not _VIEW_NAME.match(name):
            raise ValueError(
                f"view name {name!r} for {path} must be letters, digits and '_', "
                "not starting with a digit"
            )
        frame.createOrReplaceTempView(name)
    try:
        result = spark.sql(sql)
        # Analysis can be lazy (Spark Connect); resolving the schema forces it here.
        result.schema
    except AnalysisException as error:  # ParseException is a subclass
        line, column = _position(sql, error)
        message = _summary(error)
        lines = sql.splitlines()
        if line is not None and 0 < line <= len(lines):
            message += f"\n    {lines[line - 1]}"
            if column is not None:
                message += "\n    " + " " * (column - 1) + "^"
        raise CustomSqlError(path, line, column, message) from error
    return result
