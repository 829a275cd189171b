"""A SQL warehouse (PostgreSQL via psycopg2; any SQLAlchemy URL works) for incremental
reads by an ``updated_at`` watermark and for delivering tables.

Config: either ``url_env``/``url_file`` (a full SQLAlchemy URL, itself a secret), or
``host``, ``port``, ``database``, ``username`` and ``password_env``/``password_file``
(``drivername`` defaults to ``postgresql+psycopg2``).

``write_table(mode="replace")`` writes a staging table and swaps it in within one
transaction, so readers see the old table or the new one, never a half-loaded one. The
swapped-in table is new: grants and indexes on the old one are not carried over.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, model_validator

from cdp_pipelines.transports.base import TransportConfigError, TransportError
from cdp_pipelines.transports.credentials import resolve_secret
from cdp_pipelines.transports.options import OptionsModel

_MODES = ("replace", "append")
# PostgreSQL truncates identifiers longer than this.
_MAX_IDENTIFIER = 63
# The warehouse-side record of deliveries (see Warehouse.write_table).
DELIVERY_LEDGER = "cdp_deliveries"


class WarehouseOptions(OptionsModel):
    type: Literal["warehouse"] = "warehouse"
    url_env: str | None = None
    url_file: str | None = None
    drivername: str = "postgresql+psycopg2"
    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    # `schema` in config; the attribute is renamed because BaseModel has a `schema` method.
    db_schema: str | None = Field(default=None, alias="schema")
    connect_args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _url_or_server(self) -> WarehouseOptions:
        if not (self.url_env or self.url_file):
            missing = [key for key in ("host", "database", "username") if not getattr(self, key)]
            if missing:
                raise ValueError(
                    f"give url_env/url_file, or host, database and username (missing {missing})"
                )
        return self


class WarehouseError(TransportError):
    """A warehouse read or write failed; the message names the table."""


class Warehouse:
    def __init__(self, engine, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema

    @classmethod
    def from_options(cls, options: WarehouseOptions) -> Warehouse:
        import sqlalchemy as sa

        where = f"warehouse ({options.host or options.url_env or options.url_file})"
        url_secret = resolve_secret(options, "url", where=where, required=False)
        if url_secret is not None:
            try:
                url = sa.engine.make_url(url_secret.reveal())
            except Exception:
                # The URL may carry a password: name its source, never its text.
                raise TransportConfigError(
                    f"{where}: the URL from {url_secret.source} is not a valid SQLAlchemy URL"
                ) from None
        else:
            password = resolve_secret(options, "password", where=where)
            url = sa.engine.URL.create(
                options.drivername,
                username=options.username,
                password=password.reveal(),
                host=options.host,
                port=options.port or None,
                database=options.database,
            )
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=options.connect_args)
        return cls(engine, schema=options.db_schema)

    def __repr__(self) -> str:
        # SQLAlchemy renders the password as *** here.
        return f"Warehouse({self.engine.url!r}, schema={self.schema!r})"

    def _table(self, table: str, schema: str | None):
        import sqlalchemy as sa

        try:
            return sa.Table(
                table, sa.MetaData(), schema=schema or self.schema, autoload_with=self.engine
            )
        except sa.exc.NoSuchTableError as exc:
            raise WarehouseError(
                f"{self!r}: table {self._qualified(table, schema)} does not exist"
            ) from exc

    def _qualified(self, table: str, schema: str | None) -> str:
        schema = schema or self.schema
        return f"{schema}.{table}" if schema else table

    def read_incremental(
        self,
        table: str,
        updated_at_column: str,
        since: Any = None,
        schema: str | None = None,
    ):
        """Rows with ``updated_at_column > since`` (all rows when ``since`` is None), ordered
        by it, as a pandas DataFrame, and the new watermark (the greatest value read, or
        ``since`` when nothing is new).

        Store the watermark only after the rows are safely landed, so a failed run
        re-reads them.
        """
        import pandas as pd
        import sqlalchemy as sa

        source = self._table(table, schema)
        if updated_at_column not in source.c:
            raise WarehouseError(
                f"{self!r}: table {self._qualified(table, schema)} has no column "
                f"{updated_at_column!r} (columns: {list(source.c.keys())})"
            )
        column = source.c[updated_at_column]
        query = sa.select(source).order_by(column)
        if since is not None:
            query = query.where(column > since)
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        if frame.empty:
            return frame, since
        return frame, frame[updated_at_column].max()

    def _ledger(self, conn, schema: str | None):
        """The warehouse's own delivery ledger, created on first use (in its own commit)."""
        import sqlalchemy as sa

        ledger = sa.Table(
            DELIVERY_LEDGER, sa.MetaData(schema=schema),
            sa.Column("delivery_key", sa.String(64), primary_key=True),
            sa.Column("target", sa.Text, nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False,
                      server_default=sa.func.now()),
        )
        try:
            with conn.begin():
                ledger.create(conn, checkfirst=True)
        except sa.exc.SQLAlchemyError:
            # Created at the same moment by another delivery: it is there now.
            pass
        return ledger

    @staticmethod
    def _claim(conn, ledger, delivery_key: str, target: str, rows: int) -> bool:
        """Record ``delivery_key`` in the ledger, in the transaction that writes the rows:
        False if it is there already. Its primary key makes a second, identical delivery
        wait for the first and then find the key taken."""
        import sqlalchemy as sa

        try:
            with conn.begin_nested():
                conn.execute(ledger.insert().values(delivery_key=delivery_key, target=target,
                                                    rows=rows))
        except sa.exc.IntegrityError:
            return False
        return True

    def write_table(
        self,
        df,
        table: str,
        mode: str = "replace",
        schema: str | None = None,
        chunksize: int = 10_000,
        delivery_key: str | None = None,
    ) -> int | None:
        """Write a pandas DataFrame to ``table``; return the number of rows written.

        With a ``delivery_key`` the write happens at most once per key: the key is kept in
        the warehouse (table ``cdp_deliveries``) in the same transaction as the rows, so a
        crash after the commit, or the same delivery started twice at once, cannot send the
        rows again. None means the key was delivered already and nothing was written.
        """
        import sqlalchemy as sa

        if mode not in _MODES:
            raise WarehouseError(f"write_table {table}: mode {mode!r} is not one of {_MODES}")
        schema = schema or self.schema
        target = self._qualified(table, schema)
        preparer = self.engine.dialect.identifier_preparer
        try:
            with self.engine.connect() as conn:
                ledger = self._ledger(conn, schema) if delivery_key is not None else None
                # One transaction of ours around everything: pandas then leaves it alone
                # (it commits a transaction it opened itself even when the insert failed).
                with conn.begin() as transaction:
                    if ledger is not None and not self._claim(conn, ledger, delivery_key,
                                                              target, len(df)):
                        transaction.rollback()
                        return None
                    return self._write(conn, df, table, mode, schema, chunksize, preparer)
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(
                f"{self!r}: {mode} of {len(df)} rows into {target} failed and was rolled back: "
                # Only the database's own message: the full error would echo row values (PII).
                f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
            ) from exc

    def _write(self, conn, df, table: str, mode: str, schema: str | None, chunksize: int,
               preparer) -> int:
        import sqlalchemy as sa

        if mode == "append":
            df.to_sql(
                table,
                conn,
                schema=schema,
                if_exists="append",
                index=False,
                chunksize=chunksize,
                method="multi",
            )
            return len(df)
        suffix = f"__staging_{uuid.uuid4().hex[:8]}"
        staging = f"{table[: _MAX_IDENTIFIER - len(suffix)]}{suffix}"
        df.to_sql(
            staging,
            conn,
            schema=schema,
            if_exists="fail",
            index=False,
            chunksize=chunksize,
            method="multi",
        )
        within = f"{preparer.quote_schema(schema)}." if schema else ""
        # PostgreSQL DDL is transactional: readers keep the old table until commit.
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {within}{preparer.quote(table)}"))
        staged = f"{within}{preparer.quote(staging)}"
        conn.execute(sa.text(f"ALTER TABLE {staged} RENAME TO {preparer.quote(table)}"))
        return len(df)

    def close(self) -> None:
        self.engine.dispose()
