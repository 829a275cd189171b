"""Trino as a Dagster resource: run SQL and publish Delta tables to the ``delta`` catalog.

Works against any Trino with a Delta Lake catalog whose ``register_table`` procedure is
enabled: the local server of :mod:`cdp_pipelines.resources.trino_server` by default,
or a production cluster given by host and port.

Who connects (:meth:`TrinoResource.for_deployment`): the user is the one asked for, else
``CDP_TRINO_USER``, else the deployment's default. The password comes from
``CDP_TRINO_PASSWORD`` or the file named by ``CDP_TRINO_PASSWORD_FILE`` (both meant for
``CDP_TRINO_USER``), else, for the embedded server, from its secrets folder. TLS is
checked against ``CDP_TRINO_CA_FILE``, else the embedded server's own certificate, else
the system's CAs; ``CDP_TRINO_HTTP_SCHEME=http`` is for a Trino without TLS (and then
without passwords).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource

from cdp_pipelines.resources import trino_auth
from cdp_pipelines.resources.trino_catalog import trino_location

if TYPE_CHECKING:
    import pandas as pd
    from trino.dbapi import Connection

    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.trino_server import TrinoServer

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class TrinoResourceError(RuntimeError):
    """A Trino statement or table publication failed."""


def _short(message: str, limit: int = 300) -> str:
    """Trino's message without the parser's list of every keyword it expected."""
    message = re.sub(r"\. Expecting: .*", ".", message.strip(), flags=re.DOTALL)
    return message if len(message) <= limit else message[:limit] + "..."


def _chain_text(exc: BaseException | None) -> str:
    """The messages of an exception and of every exception it was raised from or in."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


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
    """The location Trino should read a Delta table from: local paths become file:///...,
    Spark's s3a://... Trino's s3://..."""
    text = str(location)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme == "file":
            return "file://" + str(Path(rest).resolve())
        return trino_location(text).rstrip("/")
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
    """A Trino connection as ``user``, authenticated by password over TLS."""

    host: str = "127.0.0.1"
    port: int = 8088
    user: str = "admin"
    catalog: str = "delta"
    http_scheme: str = "https"
    # The user's password is read, when connecting, from this file or from the environment
    # variable named here, so it never sits in the configuration the Dagster UI shows.
    # Neither set: no password (a Trino that does not authenticate).
    password_file: str = ""
    password_env: str = ""
    # PEM certificate(s) to trust; empty: the system's CAs. tls_verify=False skips the
    # check altogether (as the Trino CLI's --insecure does).
    tls_ca_file: str = ""
    tls_verify: bool = True
    # Home of the embedded local server (`cdp trino start`), whose access rules publication
    # refreshes; empty for an external Trino whose rules are managed elsewhere.
    server_home: str = ""
    # An external Trino's file-based access-control rules file (CDP_TRINO_RULES_FILE, e.g.
    # the compose service's), which publication rewrites as it does the embedded server's.
    rules_file: str = ""

    @classmethod
    def for_server(cls, server: "TrinoServer", user: str, **kwargs: Any) -> "TrinoResource":
        """``user`` of a server started by :mod:`.trino_server`, with its generated password."""
        settings = {"host": server.host, "port": server.port, "user": user,
                    "password_file": str(server.password_file(user)),
                    "tls_ca_file": str(server.ca_file)}
        return cls(**{**settings, **kwargs})

    @classmethod
    def for_deployment(cls, deployment: "Deployment", user: str | None = None,
                       env: Mapping[str, str] | None = None) -> "TrinoResource":
        """The deployment's Trino as ``user`` (default: ``CDP_TRINO_USER`` or the
        deployment's user), with credentials found as the module docstring says."""
        env = os.environ if env is None else env
        user = user or deployment.trino_user
        local = deployment.trino_host in LOCAL_HOSTS
        home = deployment.trino_home
        password_file = password_env = ""
        # CDP_TRINO_PASSWORD(_FILE) is CDP_TRINO_USER's password, not another user's.
        if env.get("CDP_TRINO_USER", user) == user:
            if env.get("CDP_TRINO_PASSWORD"):
                password_env = "CDP_TRINO_PASSWORD"
            elif env.get("CDP_TRINO_PASSWORD_FILE"):
                password_file = env["CDP_TRINO_PASSWORD_FILE"]
        if local and not (password_env or password_file):
            password_file = str(trino_auth.password_file(home, user))
        ca_file = env.get("CDP_TRINO_CA_FILE") or (str(trino_auth.ca_file(home)) if local
                                                     else "")
        return cls(host=deployment.trino_host, port=deployment.trino_port, user=user,
                   http_scheme=env.get("CDP_TRINO_HTTP_SCHEME", "https"),
                   password_file=password_file, password_env=password_env,
                   tls_ca_file=ca_file, server_home=str(home) if local else "",
                   rules_file="" if local else env.get("CDP_TRINO_RULES_FILE", ""))

    @property
    def server_home_path(self) -> Path:
        return Path(self.server_home)

    @property
    def access_rules_path(self) -> Path | None:
        """The rules file publication keeps up to date, if this project manages one."""
        if self.server_home:
            return self.server_home_path / "etc" / "rules.json"
        return Path(self.rules_file) if self.rules_file else None

    @property
    def url(self) -> str:
        return f"{self.http_scheme}://{self.host}:{self.port}"

    def _password(self) -> str | None:
        if self.password_env:
            value = os.environ.get(self.password_env, "").strip()
            if not value:
                raise TrinoResourceError(
                    f"No password for Trino user {self.user!r}: environment variable "
                    f"{self.password_env} is empty or unset.")
            return value
        if not self.password_file:
            return None
        try:
            return Path(self.password_file).read_text().strip()
        except FileNotFoundError:
            raise TrinoResourceError(
                f"No password for Trino user {self.user!r}: {self.password_file} does not "
                "exist. The embedded server writes one per user on its first start (`cdp "
                "trino start`); for another server set CDP_TRINO_PASSWORD or "
                "CDP_TRINO_PASSWORD_FILE.") from None
        except OSError as exc:
            raise TrinoResourceError(
                f"Cannot read the password of Trino user {self.user!r} from "
                f"{self.password_file}: {exc.strerror}.") from None

    def connect(self, schema: str | None = None) -> "Connection":
        """A trino DB-API connection; the caller closes it."""
        import trino

        password = self._password()
        auth = None if password is None else trino.auth.BasicAuthentication(self.user, password)
        verify: bool | str = (self.tls_ca_file or True) if self.tls_verify else False
        return trino.dbapi.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            catalog=self.catalog,
            schema=schema,
            http_scheme=self.http_scheme,
            auth=auth,
            http_session=trino_auth.client_session(verify),
        )

    def _run(self, sql: str, params: list[Any] | None = None) -> tuple[list[tuple], list[str]]:
        try:
            conn = self.connect()
        except TrinoResourceError:
            raise
        except Exception as exc:
            raise TrinoResourceError(self._failure(exc, sql)) from exc
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                rows = [tuple(row) for row in cur.fetchall()]
            except Exception as exc:
                raise TrinoResourceError(self._failure(exc, sql)) from exc
            columns = [d[0] for d in cur.description or []]
            return rows, columns
        finally:
            conn.close()

    def _failure(self, exc: Exception, sql: str) -> str:
        """What went wrong, where, and what to do, in a line or two."""
        import trino

        if isinstance(exc, trino.exceptions.TrinoQueryError):
            return (f"Trino at {self.host}:{self.port} (user {self.user!r}) failed on "
                    f"{sql.strip()[:200]!r}: {_short(exc.message)}")
        if isinstance(exc, trino.exceptions.HttpError) and "error 401" in str(exc):
            said = re.sub(r"^error 401: b?['\"]?|['\"]$", "", str(exc))
            source = (f"${self.password_env}" if self.password_env
                      else self.password_file or "no password given")
            return (f"Trino at {self.url} did not accept user {self.user!r} ({said}; password "
                    f"from {source}). Check the user name and password.")
        text = _chain_text(exc)
        tls = re.search(r"certificate verify failed: ([^(')]+)", text)
        if tls or "SSLError" in text:
            reason = tls.group(1).strip() if tls else "the TLS handshake failed"
            trusted = self.tls_ca_file or "the system's CAs"
            return (f"Trino at {self.url}: its certificate is not trusted ({reason}; checked "
                    f"against {trusted}). Name the server's CA file in CDP_TRINO_CA_FILE.")
        if "Connection refused" in text or "Failed to establish a new connection" in text:
            return (f"Trino is not reachable at {self.url} (connection refused). Is it "
                    "running? Start the embedded server with `cdp trino start`, or point "
                    "CDP_TRINO_HOST/CDP_TRINO_PORT at yours.")
        if "TLS/SSL is required for authentication" in text:
            return (f"Trino at {self.url}: a password is only ever sent over https, and "
                    f"user {self.user!r} has one. Leave CDP_TRINO_HTTP_SCHEME unset (https).")
        if "BadStatusLine" in text or "RemoteDisconnected" in text:
            return (f"Trino at {self.url} did not answer in {self.http_scheme}: is "
                    "CDP_TRINO_HTTP_SCHEME right? (the embedded server speaks https only)")
        return (f"Trino at {self.url} (user {self.user!r}) failed on "
                f"{sql.strip()[:200]!r}: {_short(str(exc))}")

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

        The schema is created if missing. A table already registered at the same place
        stays registered: with ``refresh`` (the default) Trino's cached snapshot and
        schema of it are dropped so the next query reads the Delta log's newest version,
        and a query running meanwhile never finds the table missing. A table registered
        elsewhere is unregistered and registered again at ``location`` (the one case in
        which it is briefly absent). Returns the registered location.
        """
        location = table_location(location)
        qualified_schema = self._qualified(schema)
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified_schema}")
        catalog = quote_identifier(self.catalog, "catalog")
        names = (f"schema_name => {_string_literal(schema.lower())}, "
                 f"table_name => {_string_literal(table.lower())}")
        current = self.table_location(schema, table)
        if current is not None:
            if _same_location(current, location):
                if refresh:
                    self.execute(f"CALL {catalog}.system.flush_metadata_cache({names})")
                return location
            self.execute(f"CALL {catalog}.system.unregister_table({names})")
        self.execute(f"CALL {catalog}.system.register_table({names}, "
                     f"table_location => {_string_literal(location)})")
        return location
