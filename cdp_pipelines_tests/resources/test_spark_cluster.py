"""Issue 19, item 3: Stitch on a real Spark standalone cluster (a master and two workers on
127.0.0.1, started with pyspark's own spark-class) gives the clusters and amperity_ids of
a local run. The workers get the project's code from the driver (a zip in
spark.submit.pyFiles) and their Python from CDP_SPARK_PYTHON, not the driver's path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_pipelines.deployment import DeploymentError, get_deployment
from cdp_pipelines_tests import servers
from cdp_pipelines_tests.conftest import TINY_TENANT
from cdp_pipelines_tests.stitch.test_assets import CUSTOMERS, MEMBERS

# Runs the tiny tenant's couriers, domain tables and Stitch in a fresh process (one Spark
# session per process), and prints {pk: amperity_id} and where the workers ran.
RUN = r"""
import json, os
from dagster import AssetSelection, DagsterInstance, materialize
from cdp_pipelines.definitions import build_definitions
defs = build_definitions()
selection = AssetSelection.assets(
    ["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
    ["domain", "shop_customers"], ["domain", "club_members"],
    *[["stitch", n] for n in ("unified_preprocessed_raw", "stitch_blocklist_values",
                              "unified_scores", "unified_coalesced",
                              "unified_changes_clusters", "unified_changes_pks")])
instance = DagsterInstance.ephemeral()
result = materialize(list(defs.assets), resources=defs.resources, selection=selection,
                     instance=instance, raise_on_error=False)
assert result.success, [e.message for e in result.get_step_failure_events()]
spark = defs.resources["spark"].get_session()
lake = os.environ["CDP_LAKE_ROOT"]
ids = {r["pk"]: r["amperity_id"] for r in
       spark.read.format("delta").load(f"{lake}/prod/stitch/unified_coalesced").collect()}
import sys
def where(_):
    import cdp_pipelines, sys
    return (sys.executable, cdp_pipelines.__file__)
workers = sorted(set(spark.sparkContext.parallelize(range(8), 4).map(where).collect()))
log = [e.user_message for e in instance.all_logs(result.run_id)]
print("RESULT " + json.dumps({"ids": ids, "master": spark.sparkContext.master,
                              "workers": workers,
                              "stored_model": any("using stored model" in m for m in log)}))
"""


def _stitch(tmp_path: Path, name: str, model: Path, **env: str) -> dict:
    """Stitch in a fresh process on a fresh lake that holds ``model`` already (as a lake
    does after its first run), so the cluster scores with the local run's weights."""
    models = tmp_path / name / "prod" / "stitch" / "models"
    models.mkdir(parents=True)
    shutil.copy(model, models / "current.json")
    drop = tmp_path / "drop"
    (drop / "shop").mkdir(parents=True, exist_ok=True)
    (drop / "club").mkdir(parents=True, exist_ok=True)
    (drop / "shop" / "customers_20261101.csv").write_text(CUSTOMERS)
    (drop / "club" / "members_1.psv").write_text(MEMBERS)
    environ = {**os.environ, "CDP_LAKE_ROOT": str(tmp_path / name),
               "CDP_TENANT_DIR": str(TINY_TENANT), "CDP_TEST_DROP": str(drop),
               "CDP_SPARK_SHUFFLE_PARTITIONS": "4", "CDP_SPARK_DRIVER_MEMORY": "1g",
               # a local lake: no workers fetching the S3 connector the test session loads
               "CDP_SPARK_FILESYSTEMS": "", **env}
    # A script file, not `python -c`: pyspark takes a main module without a file for a
    # doctest run and exits when Spark Connect's packages are missing.
    script = tmp_path / "run_stitch.py"
    script.write_text(RUN)
    out = subprocess.run([sys.executable, str(script)], env=environ, capture_output=True,
                         text=True, timeout=2700)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    assert out.returncode == 0 and line, out.stderr[-4000:]
    return json.loads(line[0][len("RESULT "):])


def test_stitch_on_a_standalone_cluster_equals_a_local_run(tmp_path, spark,
                                                           tiny_stitch) -> None:
    with servers.spark_cluster(workers=2) as cluster:
        remote = _stitch(tmp_path, "cluster", tiny_stitch.model,
                         CDP_SPARK_MASTER=cluster.master_url,
                         CDP_SPARK_PYTHON=sys.executable, CDP_SPARK_EXECUTOR_MEMORY="768m")
    # The same input on this session's local Spark (the tiny tenant's first Stitch).
    assert spark.sparkContext.master.startswith("local")
    local = tiny_stitch.ids
    assert remote["master"] == cluster.master_url and remote["stored_model"]
    assert remote["ids"] == local and len(set(local.values())) == 7
    # The workers import the project from the zip the driver shipped, not from its path.
    (python, module), = remote["workers"]
    assert python == sys.executable and ".zip" in module and "cdp_pipelines-" in module


def test_spark_settings_come_from_the_environment_and_a_conf_file(tmp_path) -> None:
    conf = tmp_path / "spark-defaults.conf"
    conf.write_text("# cluster sizing\nspark.executor.memory 6g\n"
                    "spark.sql.shuffle.partitions=64\nspark.eventLog.enabled true\n"
                    # a value may hold '=' and ':' (Spark reads the file as Java properties)
                    "spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1\n")
    deployment = get_deployment({"CDP_SPARK_CONF": str(conf), "CDP_SPARK_EXECUTOR_MEMORY": "2g",
                                 "CDP_SPARK_DRIVER_MEMORY": "3g", "CDP_SPARK_PYTHON": "/opt/py"})
    assert dict(deployment.spark_conf) == {
        "spark.executor.memory": "2g",  # the variable wins over the file
        "spark.sql.shuffle.partitions": "64", "spark.eventLog.enabled": "true",
        "spark.driver.memory": "3g",
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
    assert deployment.spark_python == "/opt/py"
    conf.write_text("executor.memory 6g\n")
    with pytest.raises(DeploymentError, match=r"spark-defaults.conf:1: expected 'spark.<key>"):
        get_deployment({"CDP_SPARK_CONF": str(conf)})
