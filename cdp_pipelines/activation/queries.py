"""Saved queries: tenant Trino SQL files whose results become Delta tables.

Each ``activation/queries/<name>.sql`` is one query (a single SELECT or WITH ... SELECT,
every output column named). ``activation/queries.yaml`` optionally describes them and sets
row-count thresholds::

    queries:
      - name: vip_customers
        description: Customers with lifetime revenue over 1000
        warn_below: 10      # fewer rows: a WARN check result
        fail_below: 1       # fewer rows: an ERROR check result that blocks downstream assets
        warn_above: 100000
        fail_above: 1000000

Queries name published tables by schema, e.g. ``c360.customer_360`` or
``delta.stitch.unified_coalesced``; in a sandbox those schema names are rewritten to the
sandbox's (``<sandbox>_c360``) so a sandbox never reads production's tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import model_validator

from cdp_pipelines.config.models import Name, _Model

QUERIES_DIR = "activation/queries"
QUERIES_FILE = "activation/queries.yaml"
# Schemas the project publishes; tenant databases (databases/<db>/) are added at load.
PUBLISHED_SCHEMAS = ("c360", "stitch", "activation")


class SavedQuerySettings(_Model):
    """One entry of ``activation/queries.yaml``."""

    name: Name
    description: str = ""
    warn_below: int | None = None
    fail_below: int | None = None
    warn_above: int | None = None
    fail_above: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "SavedQuerySettings":
        for low, high in (("fail_below", "warn_below"), ("warn_above", "fail_above"),
                          ("warn_below", "warn_above"), ("fail_below", "fail_above")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} ({a}) must not be greater than {high} ({b})")
        return self


class SavedQuery(SavedQuerySettings):
    """A saved query: its SQL file plus its settings."""

    sql: str
    path: Path

    @property
    def file(self) -> str:
        return f"{QUERIES_DIR}/{self.path.name}"

    def statement(self) -> str:
        """The SQL without trailing semicolons, line numbers unchanged."""
        return re.sub(r"[;\s]+$", "", self.sql)


def rewrite_schemas(sql: str, prefix: str, schemas: tuple[str, ...] | list[str],
                    catalog: str = "delta") -> str:
    """Point ``schema.table`` references at the sandbox's schemas (``<prefix><schema>``).

    Only names followed by a dot, and preceded by nothing or by the catalog, are touched,
    and not inside string literals, so a column or a literal reading 'c360' stays as it is.
    """
    if not prefix or not schemas:
        return sql
    names = "|".join(sorted((re.escape(s) for s in schemas), key=len, reverse=True))
    cat = re.escape(catalog)
    start = rf'(?:(?<=\b{cat}\.)|(?<="{cat}"\.)|(?<![\w."]))'
    reference = re.compile(rf'{start}("?)({names})\1(?=\s*\.)', re.IGNORECASE)
    parts = re.split(r"('(?:[^']|'')*')", sql)
    for i in range(0, len(parts), 2):
        parts[i] = reference.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}{m.group(1)}",
                                 parts[i])
    return "".join(parts)


def trino_error_message(exc: BaseException, file: str, line_offset: int = 0) -> str:
    """``<file> line L, column C: <Trino's message>``, from a Trino error or its wrapper."""
    cause = exc
    while cause is not None and getattr(cause, "message", None) is None:
        cause = cause.__cause__
    if cause is None:
        return f"{file}: {exc}"
    where = file
    location = getattr(cause, "error_location", None)
    if location and location[0] > 0:
        where += f" line {location[0] - line_offset}, column {location[1]}"
    # Trino's own "line L:C: " counts lines of the statement it ran, not of the file.
    message = re.sub(r"^line \d+:\d+: ", "", cause.message)
    return f"{where}: {message}"
