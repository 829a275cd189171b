"""The Spark session: Delta Lake and Splink's similarity functions, started lazily.

Delta's jars come from :mod:`cdp_pipelines.resources.jars` (Maven, cached).

One session per process. Dagster runs use the in-process executor so the assets of a
run share it; tests share it through a session-scoped fixture.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
_session: "SparkSession | None" = None


def _splink_jar() -> str | None:
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    return similarity_jar_location()


def build_spark_session(
    master: str = "local[*]",
    shuffle_partitions: int = 8,
    driver_memory: str | None = None,
    app_name: str = "cdp-pipelines",
    extra_conf: dict[str, str] | None = None,
) -> "SparkSession":
    """Build (or return the running) Spark session with Delta and Splink configured."""
    global _session
    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            return _session
        from pyspark.sql import SparkSession

        # PySpark picks the workers' interpreter from this variable when it starts the
        # context; without it workers run whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

        from cdp_pipelines.resources.jars import delta_jars

        builder = (
            SparkSession.builder.master(master)
            .appName(app_name)
            .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
            .config(
                "spark.sql.catalog.spark_catalog",
                "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            )
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            # Delta replays a table's log in 50 partitions by default: on small tables
            # that is most of a MERGE's time (7 s -> 2 s for an event micro-batch here).
            .config("spark.databricks.delta.snapshotPartitions", str(shuffle_partitions))
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.ui.showConsoleProgress", "false")
            # Several Spark drivers (a run, a test session) share one small machine.
            .config("spark.ui.enabled", os.environ.get("CDP_SPARK_UI", "false"))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", driver_memory or os.environ.get(
                "CDP_SPARK_DRIVER_MEMORY", "4g"))
            # Delta's schema merge and MERGE on small local tables: avoid needless
            # optimize-write shuffles.
            .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
            .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
            # Python workers (Arrow UDFs) must run this interpreter, with its packages.
            .config("spark.pyspark.python", sys.executable)
            .config("spark.pyspark.driver.python", sys.executable)
        )
        jars = [str(p) for p in delta_jars()]
        splink_jar = _splink_jar()
        if splink_jar:
            jars.append(splink_jar)
        builder = builder.config("spark.jars", ",".join(jars))
        for key, value in (extra_conf or {}).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        _session = session
        return session


class SparkResource(ConfigurableResource):
    """Dagster resource handing out the process's Spark session, started on first use."""

    master: str = "local[*]"
    shuffle_partitions: int = 8
    driver_memory: str = "4g"

    def get_session(self) -> "SparkSession":
        return build_spark_session(
            master=self.master,
            shuffle_partitions=self.shuffle_partitions,
            driver_memory=self.driver_memory,
        )
