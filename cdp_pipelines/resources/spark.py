"""The Spark session: Delta Lake and Splink's similarity functions, started lazily.

Delta's jars come from :mod:`cdp_pipelines.resources.jars` (Maven, cached). The Dagster
resource is dagster-pyspark's lazy one; the session is built here.

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
from typing import TYPE_CHECKING, Any

from dagster_pyspark import LazyPySparkResource
from dagster_pyspark.resources import spark_session_from_config
from dagster_spark.utils import flatten_dict

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


DELTA_SNAPSHOT_PARTITIONS = 1


def session_conf(master: str, python: str, shuffle_partitions: int = 8,
                 driver_memory: str | None = None, app_name: str = "cdp-pipelines",
                 extra_conf: dict[str, Any] | None = None,
                 filesystems: tuple[str, ...] = ()) -> dict[str, str]:
    """Every setting of the session :func:`build_spark_session` starts, flat (``spark.*``);
    the executors run ``python`` (:func:`workers_python`).

    ``filesystems``: object-store schemes (``s3a``, ``abfss``, ``wasbs``) the session reads
    or writes; their Hadoop connectors (hadoop-aws, hadoop-azure of pyspark's Hadoop) are
    fetched like Delta's jars.

    Fetches Delta's jars (Maven, cached) and, for a cluster, zips the project's code, so it
    runs when a session starts, never when definitions load. ``extra_conf`` (flat, or nested
    as dagster-pyspark's ``spark_config`` may be) wins over the defaults.
    """
    from cdp_pipelines.resources.jars import connector_jars, delta_jars

    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        # The partitions of a Delta table's cached log state (its files), which every query
        # of the table filters again: Delta's default 50 suits tables of millions of files,
        # where the lake's hold tens to thousands. Per table, a fresh session's first read
        # took 2.5-4 s with 50 and 0.5-0.9 s with 1, and later queries of 12 tables 17 s
        # against 9 (1M records); a MERGE of an event micro-batch took 7 s with 50, 2 s
        # with 8. A lake of huge tables sets `spark.databricks.delta.snapshotPartitions`
        # in the deployment's spark_conf.
        "spark.databricks.delta.snapshotPartitions": str(DELTA_SNAPSHOT_PARTITIONS),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # Several Spark drivers (a run, a test session) share one small machine.
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": driver_memory or "4g",
        # Delta's schema merge and MERGE on small local tables: avoid needless optimize-write
        # shuffles.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
        # Python workers (Arrow UDFs) run this interpreter, with the project's packages.
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": sys.executable,
    }
    if not _is_local(master):
        conf["spark.submit.pyFiles"] = str(project_archive())
    jars = [str(p) for p in delta_jars()]
    splink_jar = _splink_jar()
    if splink_jar:
        jars.append(splink_jar)
    connectors = [str(p) for p in connector_jars(filesystems)] if filesystems else []
    if connectors:
        # On the driver's class path: a local session's executors share it, and the AWS
        # SDK bundle (~700 MB) is not copied into every session's work directory, which
        # spark.jars would do. A cluster's executors fetch them from the driver.
        conf["spark.driver.extraClassPath"] = os.pathsep.join(connectors)
        if not _is_local(master):
            jars += connectors
    conf["spark.jars"] = ",".join(jars)
    conf.update((key, str(value)) for key, value in flatten_dict(extra_conf or {}))
    if conf["spark.ui.enabled"].lower() != "true":
        # With no UI nobody reads the status store, yet by default it keeps the last 1,000
        # SQL executions with their plans (Splink's run to megabytes each), jobs and stages
        # on the driver's heap: a long-lived process (a test session, a code server) fills
        # its heap with them.
        for key, value in _HEADLESS_RETENTION.items():
            conf.setdefault(key, value)
    return conf


# Status-store retention of a driver without UI (the keys are Spark's; any set explicitly win).
_HEADLESS_RETENTION = {
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
    "spark.ui.retainedTasks": "2000",
    "spark.ui.dagGraph.retainedRootRDDs": "50",
    "spark.streaming.ui.retainedBatches": "20",
}


def workers_python(master: str, worker_python: str | None) -> str:
    """Local executors run this interpreter; a cluster's run ``worker_python``
    (CDP_SPARK_PYTHON), an interpreter of the workers' machines, never the driver's path."""
    if _is_local(master):
        return sys.executable
    return worker_python or os.environ.get("PYSPARK_PYTHON") or "python3"


def build_spark_session(
    master: str = "local[*]",
    shuffle_partitions: int = 8,
    driver_memory: str | None = None,
    app_name: str = "cdp-pipelines",
    extra_conf: dict[str, Any] | None = None,
    worker_python: str | None = None,
    filesystems: tuple[str, ...] | list[str] = (),
) -> "SparkSession":
    """Build (or return the running) Spark session with Delta and Splink configured.

    On a cluster (``spark://...``) the workers get the project's code from the driver (a
    zip in ``spark.submit.pyFiles``) and run ``worker_python`` (CDP_SPARK_PYTHON), an
    interpreter of their own machines; locally they run this interpreter. ``extra_conf``
    (CDP_SPARK_* and CDP_SPARK_CONF) sets any ``spark.*`` key and wins over the defaults.
    The first session of a process is its only one: later calls return it unchanged (a
    call asking for a connector it was started without fails, saying so).
    """
    global _session
    filesystems = tuple(sorted(set(filesystems)))
    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            _require_connectors(_session, filesystems)
            return _session
        python = workers_python(master, worker_python)
        # PySpark takes the workers' interpreter from this variable when it starts the
        # context (spark.pyspark.python alone is read only by spark-submit); without it
        # workers run whatever `python3` is first on their PATH.
        os.environ["PYSPARK_PYTHON"] = python
        conf = session_conf(master, python, shuffle_partitions, driver_memory, app_name,
                            extra_conf, filesystems)
        session = spark_session_from_config(conf)
        session.sparkContext.setLogLevel(conf.get("spark.log.level", "WARN"))
        if session.sparkContext.uiWebUrl:  # switched on with CDP_SPARK_UI=true
            from dagster import get_dagster_logger

            get_dagster_logger().info(f"Spark UI: {session.sparkContext.uiWebUrl}")
        _session = session
        return session


def _require_connectors(session: "SparkSession", filesystems: tuple[str, ...]) -> None:
    from cdp_pipelines.resources.lake_storage import has_connector

    missing = [s for s in filesystems if not has_connector(session, s)]
    if missing:
        raise RuntimeError(
            f"this process's Spark session started without the Hadoop connector for "
            f"{', '.join(missing)}:// (a connector joins the class path only at start); "
            "start the process with the lake (CDP_LAKE_ROOT) or CDP_SPARK_FILESYSTEMS naming it")


class SparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy PySpark resource (``spark_session``, ``spark_context``, nothing
    started until first used) whose session is :func:`build_spark_session`'s: the process's
    one session, with Delta's and Splink's jars, and on a cluster the project's code and the
    workers' Python.

    dagster-pyspark builds its session from ``spark_config`` alone; this one also fetches
    jars, zips the code and sets PYSPARK_PYTHON when it starts, and never applies a second
    configuration to a running session (``getOrCreate`` would change its SQL settings).
    """

    master: str = "local[*]"
    shuffle_partitions: int = 8
    driver_memory: str = "4g"
    # Any spark.* setting (the deployment's CDP_SPARK_* and CDP_SPARK_CONF), over the defaults
    # of session_conf; dagster-pyspark's field, flat or nested.
    spark_config: dict[str, Any] = {}
    worker_python: str | None = None
    # Object-store locations the session reads and writes (the lake root, inputs): their
    # connectors join the class path and their settings (AWS_* variables) the session's
    # Hadoop configuration when it starts.
    lake_locations: list[str] = []
    # More object-store schemes to load connectors for (CDP_SPARK_FILESYSTEMS).
    filesystems: list[str] = []

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False  # this subclass is the project's, not Dagster's

    @classmethod
    def for_deployment(cls, deployment: "Deployment") -> "SparkResource":
        return cls(master=deployment.spark_master, spark_config=dict(deployment.spark_conf),
                   worker_python=deployment.spark_python,
                   lake_locations=[deployment.lake_root],
                   filesystems=list(deployment.spark_filesystems))

    def _init_session(self) -> None:
        # dagster-pyspark's one hook behind both spark_session and spark_context.
        if self._spark_session is None:
            from cdp_pipelines.resources.lake_storage import (
                configure_lake_access,
                connector_schemes,
            )

            session = build_spark_session(
                master=self.master,
                shuffle_partitions=self.shuffle_partitions,
                driver_memory=self.driver_memory,
                extra_conf=self.spark_config,
                worker_python=self.worker_python,
                filesystems=tuple(connector_schemes(self.lake_locations) | set(self.filesystems)),
            )
            configure_lake_access(session, self.lake_locations)
            self._spark_session = session

    def get_session(self) -> "SparkSession":
        return self.spark_session
