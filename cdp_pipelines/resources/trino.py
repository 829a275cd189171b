"""Trino as a Dagster resource: run SQL and publish Delta tables to the ``delta`` catalog.

Works against any Trino with a Delta Lake catalog whose ``register_table`` procedure is
enabled: the local server of :mod:`cdp_pipelines.resources.trino_server` by default,
or a production cluster given by host and port.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource

if TYPE_CHECKING:
    import pandas as pd
    from trino.dbapi import Connection

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TrinoResourceError(RuntimeError):
    """A Trino statement or table publication failed."""


def quote_identifier(name: str, what: str = "identifier") -> str:
    """``name`` as a quoted SQL identifier, refusing anything but a plain name."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"Trino {what} {name!r} is not a plain identifier: use letters, digits and '_', "
            "starting with a letter or '_'."
        )
    return f'"{name.lower()}"'


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_location(location: str | Path) -> str:
    """The location Trino should read a Delta table from: local paths become file:///..."""
    text = str(location)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme == "file":
            return "file://" + str(Path(rest).resolve())
        return text.rstrip("/")
    return "file://" + str(Path(text).expanduser().resolve())


def _same_location(a: str, b: str) -> bool:
    def norm(loc: str) -> str:
        loc = loc.rstrip("/")
        if loc.startswith("file:///"):
            return "file://" + loc[len("file://"):]
        if loc.startswith("file:/") and not loc.startswith("file://"):
            return "file://" + loc[len("file:"):]
        return loc

    return norm(a) == norm(b)


class TrinoResource(ConfigurableResource):
    """A Trino connection as ``user`` (no password: the local server trusts the user name)."""

    host: str = "127.0.0.1"
    port: int = 8088
    user: str = "admin"
    catalog: str = "delta"
    http_scheme: str = "http"
    # Home of the embedded local server (`cdp trino start`), whose access rules publication
    # refreshes; empty for an external Trino whose rules are managed elsewhere.
    server_home: str = ""

    @property
    def server_home_path(self) -> Path:
        return Path(self.server_home)

    def connect(self, schema: str | None = None) -> "Connection":
        """A trino DB-API connection; the caller closes it."""
        import trino

        return trino.dbapi.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            catalog=self.catalog,
            schema=schema,
            http_scheme=self.http_scheme,
        )

    def _run(self, sql: str, params: list[Any] | None = None) -> tuple[list[tuple], list[str]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                rows = [tuple(row) for row in cur.fetchall()]
            except Exception as exc:
                raise TrinoResourceError(
                    f"Trino at {self.host}:{self.port} (user {self.user!r}) failed on "
                    f"{sql.strip()[:200]!r}: {getattr(exc, 'message', None) or exc}"
                ) from exc
            columns = [d[0] for d in cur.description or []]
            return rows, columns
        finally:
            conn.close()

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Run one statement and return its rows (DDL returns ``[(True,)]``)."""
        return self._run(sql, params)[0]

    def query_df(self, sql: str, params: list[Any] | None = None) -> "pd.DataFrame":
        """Run a query and return its result as a pandas DataFrame."""
        import pandas as pd

        rows, columns = self._run(sql, params)
        return pd.DataFrame.from_records(rows, columns=columns)

    def _qualified(self, schema: str, table: str | None = None) -> str:
        parts = [quote_identifier(self.catalog, "catalog"), quote_identifier(schema, "schema")]
        if table is not None:
            parts.append(quote_identifier(table, "table"))
        return ".".join(parts)

    def table_location(self, schema: str, table: str) -> str | None:
        """Where a registered Delta table lives, or None when it is not registered."""
        quote_identifier(schema, "schema")
        quote_identifier(table, "table")
        catalog = quote_identifier(self.catalog, "catalog")
        exists = self.execute(
            f"SELECT 1 FROM {catalog}.information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema.lower(), table.lower()],
        )
        if not exists:
            return None
        rows = self.execute(f"SHOW CREATE TABLE {self._qualified(schema, table)}")
        match = re.search(r"location\s*=\s*'([^']*)'", rows[0][0]) if rows else None
        return match.group(1) if match else None

    def register_delta_table(
        self, schema: str, table: str, location: str | Path, refresh: bool = True
    ) -> str:
        """Publish the Delta table at ``location`` as ``<catalog>.<schema>.<table>``.

        The schema is created if missing. A table already registered elsewhere is
        unregistered first; with ``refresh`` (the default) one registered at the same
        place is re-registered too, so Trino's cached snapshot and schema follow the
        Delta log. Returns the registered location.
        """
        location = table_location(location)
        qualified_schema = self._qualified(schema)
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified_schema}")
        catalog = quote_identifier(self.catalog, "catalog")
        current = self.table_location(schema, table)
        if current is not None:
            if _same_location(current, location) and not refresh:
                return location
            self.execute(
                f"CALL {catalog}.system.unregister_table("
                f"schema_name => {_string_literal(schema.lower())}, "
                f"table_name => {_string_literal(table.lower())})"
            )
        self.execute(
            f"CALL {catalog}.system.register_table("
            f"schema_name => {_string_literal(schema.lower())}, "
            f"table_name => {_string_literal(table.lower())}, "
            f"table_location => {_string_literal(location)})"
        )
        return location
