"""Warehouse reads and writes against a real PostgreSQL server."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_pipelines.transports import MissingSecretError
from cdp_pipelines.transports.warehouse import (
    Warehouse,
    WarehouseError,
    WarehouseOptions,
)


@pytest.fixture
def warehouse(postgres, monkeypatch) -> Warehouse:
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres.password)
    made = Warehouse.from_options(
        WarehouseOptions(
            host=postgres.host,
            port=postgres.port,
            database=postgres.database,
            username=postgres.user,
            password_env="TEST_PG_PASSWORD",
        )
    )
    yield made
    made.close()


def orders(ids: list[int], day: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ids,
            "amount": [10.5 * i for i in ids],
            "updated_at": pd.to_datetime([f"2026-11-{day:02d} 10:{i:02d}:00" for i in ids]),
        }
    )


def table_names(warehouse: Warehouse) -> set[str]:
    import sqlalchemy as sa

    return set(sa.inspect(warehouse.engine).get_table_names())


def test_incremental_read_returns_only_new_rows_and_advances_the_watermark(warehouse):
    assert warehouse.write_table(orders([1, 2, 3], day=1), "orders_inc") == 3

    first, mark = warehouse.read_incremental("orders_inc", "updated_at")
    assert first["order_id"].tolist() == [1, 2, 3]
    assert mark == pd.Timestamp("2026-11-01 10:03:00")

    warehouse.write_table(orders([4, 5], day=2), "orders_inc", mode="append")
    second, mark2 = warehouse.read_incremental("orders_inc", "updated_at", since=mark)
    assert second["order_id"].tolist() == [4, 5]
    assert second["amount"].tolist() == [42.0, 52.5]
    assert mark2 == pd.Timestamp("2026-11-02 10:05:00")

    nothing, mark3 = warehouse.read_incremental("orders_inc", "updated_at", since=mark2)
    assert nothing.empty and mark3 == mark2


def test_replace_swaps_in_the_new_table(warehouse):
    warehouse.write_table(orders([1, 2, 3], day=1), "audience_out")
    replacement = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["vip", "vip"]})
    assert warehouse.write_table(replacement, "audience_out", mode="replace") == 2
    with warehouse.engine.connect() as conn:
        now = pd.read_sql("SELECT * FROM audience_out ORDER BY customer_id", conn)
    assert now.to_dict("records") == [
        {"customer_id": "a", "segment": "vip"},
        {"customer_id": "b", "segment": "vip"},
    ]
    assert not any("__staging_" in name for name in table_names(warehouse))


def test_failed_replace_leaves_the_old_table_and_no_staging_table(warehouse):
    warehouse.write_table(orders([1, 2], day=1), "orders_keep")
    # The staging table gets created, then the insert fails: psycopg2 cannot send a set.
    broken = pd.DataFrame({"order_id": [7, 8], "tags": ["ok", {"not", "adaptable"}]})
    with pytest.raises(WarehouseError, match=r"replace of 2 rows into orders_keep failed"):
        warehouse.write_table(broken, "orders_keep", mode="replace")
    kept, _ = warehouse.read_incremental("orders_keep", "updated_at")
    assert kept["order_id"].tolist() == [1, 2]
    assert not any("__staging_" in name for name in table_names(warehouse))


def test_missing_table_and_column_are_named(warehouse):
    with pytest.raises(WarehouseError, match="table no_such_table does not exist"):
        warehouse.read_incremental("no_such_table", "updated_at")
    warehouse.write_table(orders([1], day=1), "orders_cols")
    with pytest.raises(WarehouseError, match="no column 'modified_at'"):
        warehouse.read_incremental("orders_cols", "modified_at")


def test_missing_password_env_names_the_variable(postgres, monkeypatch):
    monkeypatch.delenv("TEST_PG_UNSET", raising=False)
    with pytest.raises(MissingSecretError, match="TEST_PG_UNSET"):
        Warehouse.from_options(
            WarehouseOptions(
                host=postgres.host,
                port=postgres.port,
                database="postgres",
                username=postgres.user,
                password_env="TEST_PG_UNSET",
            )
        )


def test_password_is_not_in_repr(warehouse, postgres):
    assert postgres.password not in repr(warehouse)
    assert postgres.password not in str(warehouse)
