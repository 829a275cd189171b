"""Issue 19, item 4: the Spark resource is dagster-pyspark's lazy PySpark resource, whose
session is the project's: one per process, Delta and Splink on it, and on a cluster the
project's code and the workers' Python."""

from __future__ import annotations

import sys

from dagster import asset, materialize
from dagster_pyspark import LazyPySparkResource
from splink.backends.spark import similarity_jar_location

from cdp_pipelines.deployment import get_deployment
from cdp_pipelines.resources.spark import SparkResource, session_conf, workers_python


def test_the_resource_hands_a_run_the_process_session_with_delta_and_splink(spark) -> None:
    resource = SparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g")
    assert isinstance(resource, LazyPySparkResource)
    seen = {}

    @asset
    def uses_spark(spark: SparkResource) -> None:
        seen["session"] = spark.get_session()
        seen["context"] = spark.spark_context
        seen["pyspark"] = spark.spark_session

    assert materialize([uses_spark], resources={"spark": resource}).success
    # One session per process: the run's is the test session's, through every accessor.
    assert seen["session"] is spark and seen["pyspark"] is spark
    assert seen["context"] is spark.sparkContext
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    jars = spark.sparkContext.getConf().get("spark.jars")
    assert "delta-spark_" in jars and similarity_jar_location() in jars.split(",")


def test_a_deployments_spark_settings_become_dagster_pysparks_spark_config() -> None:
    deployment = get_deployment({"CDP_SPARK_MASTER": "spark://10.0.0.5:7077",
                                 "CDP_SPARK_EXECUTOR_MEMORY": "2g",
                                 "CDP_SPARK_PYTHON": "/opt/cdp/bin/python"})
    resource = SparkResource.for_deployment(deployment)
    assert resource.master == "spark://10.0.0.5:7077"
    assert resource.spark_config == {"spark.executor.memory": "2g"}
    assert resource.worker_python == "/opt/cdp/bin/python"


def test_the_session_settings_for_a_cluster_and_for_local() -> None:
    cluster = "spark://127.0.0.1:7077"
    assert workers_python(cluster, "/opt/cdp/bin/python") == "/opt/cdp/bin/python"
    assert workers_python("local[2]", "/opt/cdp/bin/python") == sys.executable
    conf = session_conf(cluster, "/opt/cdp/bin/python", shuffle_partitions=4,
                        driver_memory="1g",
                        extra_conf={"spark.sql.shuffle.partitions": 64,
                                    # nested, as dagster-pyspark's spark_config may be
                                    "spark": {"executor": {"memory": "2g"}}})
    assert conf["spark.master"] == cluster
    assert conf["spark.sql.shuffle.partitions"] == "64"  # the setting wins over the default
    assert conf["spark.executor.memory"] == "2g" and conf["spark.driver.memory"] == "1g"
    assert conf["spark.pyspark.python"] == "/opt/cdp/bin/python"
    assert "cdp_pipelines-" in conf["spark.submit.pyFiles"]
    assert "spark.submit.pyFiles" not in session_conf("local[2]", sys.executable)


def test_delta_log_state_partitions_do_not_grow_with_the_shuffle_partitions() -> None:
    # Tables of tens to thousands of files: one partition, however many shuffle partitions
    # a large tenant's session is given; a lake of huge tables sets its own.
    conf = session_conf("local[2]", sys.executable, shuffle_partitions=200)
    assert conf["spark.databricks.delta.snapshotPartitions"] == "1"
    assert conf["spark.sql.shuffle.partitions"] == "200"
    own = session_conf("local[2]", sys.executable, shuffle_partitions=200,
                       extra_conf={"spark.databricks.delta.snapshotPartitions": 32})
    assert own["spark.databricks.delta.snapshotPartitions"] == "32"
