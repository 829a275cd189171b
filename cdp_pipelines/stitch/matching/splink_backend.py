"""Splink's Spark backend, with a work folder that goes when the process ends."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def splink_db_api(spark: "SparkSession"):
    """Splink's Spark backend; registers the similarity UDFs (jaro_winkler, ...) as a side
    effect. Intermediate tables are written as parquet so long iterative jobs (EM,
    connected components) keep short query plans."""
    from splink import SparkAPI

    jsc = spark.sparkContext._jsc
    if jsc.sc().getCheckpointDir().isEmpty():
        folder = tempfile.mkdtemp(prefix="cdp-splink-")
        # Splink writes every intermediate table there (600 MB at 1M records): removed
        # when the process ends, not left behind run after run.
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        spark.sparkContext.setCheckpointDir(folder)
    return SparkAPI(spark_session=spark, break_lineage_method="parquet")


def release_splink_views(spark: "SparkSession") -> int:
    """Drop the temporary views Splink registered in ``spark`` (one per intermediate table,
    each holding its full query plan): a process that runs Stitch more than once (a test
    session, an in-process executor) would otherwise keep every run's plans on the
    driver's heap. Frames already built keep working; only the names go. Returns how many."""
    views = [t.name for t in spark.catalog.listTables()
             if t.isTemporary and t.name.startswith("__splink__")]
    for name in views:
        spark.catalog.dropTempView(name)
    return len(views)


@contextmanager
def splink_views_released(spark: "SparkSession") -> Iterator[None]:
    """Splink's temporary views of the block are dropped when it ends, failed or not."""
    try:
        yield
    finally:
        release_splink_views(spark)
