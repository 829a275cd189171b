"""Tiny Customer 360 tables, written by Spark and registered in the session's Trino.

Everything lives in the sandbox ``aud`` (schemas ``aud_c360`` and ``aud_activation``), so
these tests share the session Trino with others without touching their schemas, and the
sandbox schema rewriting is exercised on every query.

Six customers, chosen so each condition below has a hand-countable answer:

| id | state | revenue | orders | latest order | rfm | opt-in | employee |
|----|-------|---------|--------|--------------|-----|--------|----------|
| a1 | WA    | 1200    | 4      | 2026-11-01   | 25  | true   | false    |
| a2 | OR    | 300     | 3      | 2026-06-01   | 15  | true   | false    |
| a3 | CA    | 50      | 1      | 2025-01-15   | 5   | false  | false    |
| a4 | NULL  | 0       | 0      | NULL         | -   | NULL   | false    |
| a5 | WA    | 800     | 2      | 2026-10-20   | 20  | false  | true     |
| a6 | TX    | 100     | 1      | 2026-08-24   | 10  | true   | false    |
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

TENANT = Path(__file__).resolve().parent / "tenant"
TODAY = date(2026, 11, 22)
SANDBOX = "aud"

CUSTOMERS = [
    # amperity_id, given_name, email, state, revenue, orders, latest order
    ("a1", "Ada", "ada@example.com", "WA", 1200.0, 4, date(2026, 11, 1)),
    ("a2", "Bob", "bob@example.com", "OR", 300.0, 3, date(2026, 6, 1)),
    ("a3", "Cy", None, "CA", 50.0, 1, date(2025, 1, 15)),
    ("a4", "Di", "di@example.com", None, 0.0, 0, None),
    ("a5", "O'Brien", "ob@example.com", "WA", 800.0, 2, date(2026, 10, 20)),
    ("a6", "Eve%", "eve@example.com", "TX", 100.0, 1, date(2026, 8, 24)),
]
RFM = {"a1": 25, "a2": 15, "a3": 5, "a5": 20, "a6": 10}
OPT_IN = {"a1": True, "a2": True, "a3": False, "a4": None, "a5": False, "a6": True}
EMPLOYEES = {"a5"}


@pytest.fixture(scope="session")
def deployment(trino_lake):
    from cdp_pipelines.deployment import Deployment

    return Deployment(lake_root=str(trino_lake / "audiences"), sandbox=SANDBOX,
                      tenant_dir=TENANT)


@pytest.fixture(scope="session")
def c360(spark, admin, deployment) -> str:
    """Publish the four tables to Trino schema aud_c360; returns the schema name."""
    tables = {
        "customer_360": spark.createDataFrame(
            [(*c, c[4] > 0 and c[2] is not None) for c in CUSTOMERS],
            "amperity_id STRING, given_name STRING, email STRING, state STRING, "
            "lifetime_revenue DOUBLE, lifetime_order_count BIGINT, latest_order_date DATE, "
            "contactable_email BOOLEAN"),
        # segment_flag is in both attribute tables and not in customer_360: ambiguous.
        "transaction_attributes": spark.createDataFrame(
            [(c[0], c[4], c[5], c[6], RFM[c[0]], 1) for c in CUSTOMERS if c[0] in RFM],
            "amperity_id STRING, lifetime_revenue DOUBLE, lifetime_order_count BIGINT, "
            "latest_order_date DATE, rfm_score INT, segment_flag INT"),
        "customer_attributes": spark.createDataFrame(
            [(c[0], OPT_IN[c[0]], c[0] in EMPLOYEES, 1) for c in CUSTOMERS],
            "amperity_id STRING, email_opt_in BOOLEAN, is_employee BOOLEAN, segment_flag INT"),
        # a1 and a2 share a household whose first-ranked member is a2.
        "household_members": spark.createDataFrame(
            [("a1", "h1", 2, 2), ("a2", "h1", 1, 2), ("a5", "h5", 1, 1)],
            "amperity_id STRING, household_id STRING, household_rank INT, "
            "household_size INT"),
        "merged_customers": spark.createDataFrame(
            [(c[0], c[1], c[2], c[3]) for c in CUSTOMERS],
            "amperity_id STRING, given_name STRING, email STRING, state STRING"),
    }
    schema = f"{SANDBOX}_c360"
    for name, frame in tables.items():
        path = deployment.path("c360", "c360", name)
        frame.coalesce(1).write.format("delta").mode("overwrite").save(path)
        admin.register_delta_table(schema, name, path)
    return schema


@pytest.fixture(scope="session")
def lake(spark, deployment):
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource

    # The same settings as the session `spark` fixture, so get_session() returns it.
    resource = SparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g")
    return DeltaLake.for_deployment(resource, deployment)


@pytest.fixture(scope="session")
def audiences():
    from cdp_pipelines.tenant import load_tenant

    return load_tenant(TENANT, env={})
