"""Shared fixture for the Customer 360 tests: one small local Spark session per test session."""

import pytest


@pytest.fixture(scope="session")
def spark():
    from cdp_pipelines.resources.spark import build_spark_session

    session = build_spark_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()
