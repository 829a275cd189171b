"""Splink's Spark backend, with a work folder that goes when the process ends."""

from __future__ import annotations

import atexit
import shutil
import tempfile
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
