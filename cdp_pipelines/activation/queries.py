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
