"""Shared fixtures for the Stitch tests: one small local Spark session per test session."""

import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    from cdp_pipelines.resources.spark import build_spark_session

    # Python workers must run this interpreter (the venv with pandas/pyarrow), not `python3`.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The connectors every session of the test process has (see the root conftest).
    session = build_spark_session("local[2]", shuffle_partitions=2,
                                  filesystems=("s3a", "abfs"))
    yield session
    session.stop()
