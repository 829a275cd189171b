"""The Spark session: Delta Lake and Splink's similarity functions, started lazily.

Delta's jars come from :mod:`cdp_pipelines.resources.jars` (Maven, cached).

One session per process. Dagster runs use the in-process executor so the assets of a
run share it; tests share it through a session-scoped fixture.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp_pipelines.deployment import Deployment

_lock = threading.Lock()
_session: "SparkSession | None" = None


def _splink_jar() -> str | None:
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    return similarity_jar_location()


def project_archive() -> Path:
    """The ``cdp_pipelines`` package as a zip for a cluster's workers (``spark.submit.pyFiles``):
    built once per version of the code, in the cache."""
    import cdp_pipelines
    from cdp_pipelines.resources.jars import cache_dir

    package = Path(cdp_pipelines.__file__).parent
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package.parent).as_posix().encode())
        digest.update(path.read_bytes())
    archive = cache_dir() / "pyfiles" / f"cdp_pipelines-{digest.hexdigest()[:16]}.zip"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        tmp = archive.with_name(f".{archive.name}.{os.getpid()}")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for path in files:
                out.write(path, path.relative_to(package.parent).as_posix())
        tmp.replace(archive)
    return archive


def _is_local(master: str) -> bool:
    return master.startswith("local")


def build_spark_session(
    master: str = "local[*]",
    shuffle_partitions: int = 8,
    driver_memory: str | None = None,
    app_name: str = "cdp-pipelines",
    extra_conf: dict[str, str] | None = None,
    worker_python: str | None = None,
) -> "SparkSession":
    """Build (or return the running) Spark session with Delta and Splink configured.

    On a cluster (``spark://...``) the workers get the project's code from the driver (a
    zip in ``spark.submit.pyFiles``) and run ``worker_python`` (CDP_SPARK_PYTHON), an
    interpreter of their own machines; locally they run this interpreter. ``extra_conf``
    (CDP_SPARK_* and CDP_SPARK_CONF) sets any ``spark.*`` key and wins over the defaults.
    """
    global _session
    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            return _session
        from pyspark.sql import SparkSession

        from cdp_pipelines.resources.jars import delta_jars

        local = _is_local(master)
        python = sys.executable if local else (
            worker_python or os.environ.get("PYSPARK_PYTHON") or "python3")
        # PySpark takes the workers' interpreter from this variable when it starts the
        # context (spark.pyspark.python alone is read only by spark-submit); without it
        # workers run whatever `python3` is first on their PATH.
        os.environ["PYSPARK_PYTHON"] = python
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
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", driver_memory or "4g")
            # Delta's schema merge and MERGE on small local tables: avoid needless
            # optimize-write shuffles.
            .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
            .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
            # Python workers (Arrow UDFs) run this interpreter, with the project's packages.
            .config("spark.pyspark.python", python)
            .config("spark.pyspark.driver.python", sys.executable)
        )
        if not local:
            builder = builder.config("spark.submit.pyFiles", str(project_archive()))
        jars = [str(p) for p in delta_jars()]
        splink_jar = _splink_jar()
        if splink_jar:
            jars.append(splink_jar)
        builder = builder.config("spark.jars", ",".join(jars))
        for key, value in (extra_conf or {}).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel((extra_conf or {}).get("spark.log.level", "WARN"))
        if session.sparkContext.uiWebUrl:  # switched on with CDP_SPARK_UI=true
            from dagster import get_dagster_logger

            get_dagster_logger().info(f"Spark UI: {session.sparkContext.uiWebUrl}")
        _session = session
        return session


class SparkResource(ConfigurableResource):
    """Dagster resource handing out the process's Spark session, started on first use."""

    master: str = "local[*]"
    shuffle_partitions: int = 8
    driver_memory: str = "4g"
    # Any spark.* setting (the deployment's CDP_SPARK_* and CDP_SPARK_CONF).
    conf: dict[str, str] = {}
    worker_python: str | None = None

    @classmethod
    def for_deployment(cls, deployment: "Deployment") -> "SparkResource":
        return cls(master=deployment.spark_master, conf=dict(deployment.spark_conf),
                   worker_python=deployment.spark_python)

    def get_session(self) -> "SparkSession":
        return build_spark_session(
            master=self.master,
            shuffle_partitions=self.shuffle_partitions,
            driver_memory=self.driver_memory,
            extra_conf=self.conf,
            worker_python=self.worker_python,
        )
