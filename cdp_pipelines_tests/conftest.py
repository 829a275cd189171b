"""Session-wide test setup: a temporary lake and Dagster home, one Spark session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="cdp-tests-"))
# Set before any test module imports cdp_pipelines.definitions (which reads them).
os.environ.setdefault("CDP_LAKE_ROOT", str(_SESSION_TMP / "lake"))
os.environ.setdefault("DAGSTER_HOME", str(_SESSION_TMP / "dagster_home"))
os.environ.setdefault("CDP_DEMO_DROP", str(_SESSION_TMP / "demo" / "drop"))
os.environ.setdefault("CDP_TEST_DROP", str(_SESSION_TMP / "drop"))
Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

TESTS_DIR = Path(__file__).resolve().parent
TINY_TENANT = TESTS_DIR / "tenants" / "tiny"


@pytest.fixture(scope="session")
def spark():
    from cdp_pipelines.resources.spark import build_spark_session

    return build_spark_session("local[2]", shuffle_partitions=2, driver_memory="2g")


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"
