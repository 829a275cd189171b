"""Splink's work folder does not outlive the process."""


def test_splink_work_folder_goes_with_the_process(tmp_path) -> None:
    """Splink's intermediate tables (hundreds of MB on big inputs) do not outlive the run."""
    import os
    import subprocess
    import sys

    child = (
        "from cdp_pipelines.resources.spark import build_spark_session\n"
        "from cdp_pipelines.stitch.matching import splink_db_api\n"
        "spark = build_spark_session('local[1]', 1)\n"
        "splink_db_api(spark)\n"
        "spark.range(3).checkpoint()\n"
        "print(spark.sparkContext._jsc.sc().getCheckpointDir().get())\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    folder = done.stdout.strip().splitlines()[-1]
    assert str(tmp_path) in folder and "cdp-splink-" in folder
    assert not list(tmp_path.glob("cdp-splink-*"))
