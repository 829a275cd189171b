"""A Delta table written by Spark and registered in the session's Trino (root conftest),
and the Trino CLI (the executable jar from Maven Central) pointed at that server."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

CUSTOMERS = [
    (1, "Ada", "ada@example.com", date(1990, 1, 2)),
    (2, "Bob", "bob@example.com", date(1985, 6, 30)),
]


@pytest.fixture(scope="session")
def customers_path(spark, trino_lake) -> Path:
    """A Delta table at <lake>/c360/customers written by Spark (version 0: two rows)."""
    path = trino_lake / "c360" / "customers"
    frame = spark.createDataFrame(
        CUSTOMERS, "customer_id INT, name STRING, email STRING, birthdate DATE"
    )
    frame.coalesce(1).write.format("delta").mode("overwrite").save(str(path))
    return path


@pytest.fixture(scope="session")
def customers(admin, customers_path) -> str:
    admin.register_delta_table("c360", "customers", customers_path)
    return "delta.c360.customers"


def csv_rows(text: str) -> list[list[str]]:
    """The rows of the Trino CLI's ``--output-format CSV``."""
    return [row for row in csv.reader(text.splitlines()) if row]


@pytest.fixture(scope="session")
def trino_cli(trino_server) -> Callable[..., subprocess.CompletedProcess]:
    """``trino_cli(user, sql, password=None, tls=None)`` runs the Trino CLI 476 against
    the session server: ``password`` None sends the user's generated password, False none;
    ``tls`` defaults to trusting the server's certificate (``--truststore-path``)."""
    from cdp_pipelines.resources.trino_install import ensure_cli, find_java_home

    jar = ensure_cli()
    java = find_java_home() / "bin" / "java"

    def run(user: str, sql: str, password: str | bool | None = None,
            tls: tuple[str, ...] | None = None) -> subprocess.CompletedProcess:
        if password is None:
            password = trino_server.password_file(user).read_text().strip()
        tls = ("--truststore-path", str(trino_server.ca_file)) if tls is None else tls
        command = [str(java), "--enable-native-access=ALL-UNNAMED", "-jar", str(jar),
                   "--server", trino_server.url, "--user", user, *tls,
                   "--output-format", "CSV", "--execute", sql]
        env = {k: v for k, v in os.environ.items() if k != "TRINO_PASSWORD"}
        if password is not False:
            # The CLI reads the password of --password from TRINO_PASSWORD, never argv.
            command.insert(command.index("--output-format"), "--password")
            env["TRINO_PASSWORD"] = password
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)

    return run
