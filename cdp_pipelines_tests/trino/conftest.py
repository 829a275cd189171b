"""A Delta table written by Spark and registered in the session's Trino (root conftest)."""

from __future__ import annotations

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
