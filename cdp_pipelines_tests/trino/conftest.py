"""A real Trino 476 server for the session, with a Delta table written by Spark."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

PII = {("c360", "customers"): {"email": "varchar", "birthdate": "date"}}
CUSTOMERS = [
    (1, "Ada", "ada@example.com", date(1990, 1, 2)),
    (2, "Bob", "bob@example.com", date(1985, 6, 30)),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def trino_lake(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trino-lake")


@pytest.fixture(scope="session")
def trino_server(tmp_path_factory, trino_lake):
    from cdp_pipelines.resources import trino_server

    home = tmp_path_factory.mktemp("trino-home")
    trino_server.write_access_rules(home, PII)
    server = trino_server.start(home, port=free_port(), lake_root=trino_lake)
    yield server
    assert trino_server.stop(home)


def _user(server, name: str):
    from cdp_pipelines.resources.trino import TrinoResource

    return TrinoResource(host=server.host, port=server.port, user=name)


@pytest.fixture(scope="session")
def admin(trino_server):
    return _user(trino_server, "admin")


@pytest.fixture(scope="session")
def analyst(trino_server):
    return _user(trino_server, "analyst")


@pytest.fixture(scope="session")
def restricted(trino_server):
    return _user(trino_server, "restricted")


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
