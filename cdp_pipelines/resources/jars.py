"""JVM jars the Spark session needs, fetched once with Maven into a cache.

Delta's jars are resolved with ``mvn dependency:copy`` rather than Spark's
``spark.jars.packages`` (Ivy): Maven is the client this machine is set up to use for
Maven Central, and a fixed jar list makes session start-up independent of Ivy's caches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# delta-spark's compile dependencies beyond what pyspark ships: delta-storage only.
DELTA_VERSION = "4.4.0"


def cache_dir() -> Path:
    """The project's download cache on this machine: ``$CDP_CACHE_DIR``, else
    ``~/.cache/cdp-pipelines`` (jars, Trino, the tests' servers)."""
    base = os.environ.get("CDP_CACHE_DIR")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "cdp-pipelines"


def _spark_major_minor() -> str:
    import pyspark

    return ".".join(pyspark.__version__.split(".")[:2])


def delta_artifacts() -> list[str]:
    return [
        f"io.delta:delta-spark_{_spark_major_minor()}_2.13:{DELTA_VERSION}",
        f"io.delta:delta-storage:{DELTA_VERSION}",
    ]


def maven_copy(artifacts: list[str], dest: Path) -> list[Path]:
    """Copy Maven artifacts (``group:artifact:version[:packaging]``) into ``dest`` once."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for coordinate in artifacts:
        parts = coordinate.split(":")
        packaging = parts[3] if len(parts) > 3 else "jar"
        target = dest / f"{parts[1]}-{parts[2]}.{packaging}"
        if not target.exists():
            if shutil.which("mvn") is None:
                raise RuntimeError(
                    f"Maven (mvn) is needed to fetch {coordinate}; install it (apt-get install maven)"
                )
            with tempfile.TemporaryDirectory(dir=dest) as tmp:
                result = subprocess.run(
                    ["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}",
                     f"-DoutputDirectory={tmp}"],
                    capture_output=True, text=True, cwd=tmp,
                )
                fetched = list(Path(tmp).glob(f"{parts[1]}-*"))
                if result.returncode != 0 or not fetched:
                    raise RuntimeError(
                        f"could not fetch {coordinate} with Maven:\n{result.stdout[-2000:]}"
                        f"{result.stderr[-2000:]}"
                    )
                # Rename into place last so an interrupted fetch leaves no partial jar.
                fetched[0].replace(target)
        paths.append(target)
    return paths


def delta_jars() -> list[Path]:
    return maven_copy(delta_artifacts(), cache_dir() / "jars")


def hadoop_version() -> str:
    """The Hadoop that pyspark bundles (``jars/hadoop-client-api-<version>.jar``): the
    cloud connectors must be the same version."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    found = sorted(jars.glob("hadoop-client-api-*.jar"))
    if not found:
        raise RuntimeError(f"no hadoop-client-api jar in {jars}: cannot tell pyspark's Hadoop")
    return found[-1].name[len("hadoop-client-api-"):-len(".jar")]


# Each Hadoop connector with the jars it needs beyond what pyspark ships (its pom's compile
# and runtime dependencies that pyspark's jars/ lacks), per Hadoop version: mvn
# dependency:copy fetches one artifact, not its dependencies.
_CONNECTOR_DEPENDENCIES = {
    "3.5.0": {
        "hadoop-aws": ["software.amazon.awssdk:bundle:2.35.4",
                       "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1"],
        "hadoop-azure": ["com.microsoft.azure:azure-storage:7.0.1",
                         "com.microsoft.azure:azure-keyvault-core:1.0.0",
                         "org.apache.hadoop.thirdparty:hadoop-shaded-guava:1.5.0",
                         "org.wildfly.openssl:wildfly-openssl:2.2.5.Final"],
    },
}
# URI scheme -> the Hadoop connector that serves it.
CONNECTORS = {"s3a": "hadoop-aws", "abfss": "hadoop-azure", "abfs": "hadoop-azure",
              "wasbs": "hadoop-azure", "wasb": "hadoop-azure"}


def connector_artifacts(schemes: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Maven coordinates of the connectors (and their dependencies) for these schemes."""
    version = hadoop_version()
    if version not in _CONNECTOR_DEPENDENCIES:
        raise RuntimeError(f"pyspark bundles Hadoop {version}; the project knows the cloud "
                           f"connectors' dependencies of {sorted(_CONNECTOR_DEPENDENCIES)} only")
    out: list[str] = []
    for connector in sorted({CONNECTORS[s] for s in schemes if s in CONNECTORS}):
        out.append(f"org.apache.hadoop:{connector}:{version}")
        out += _CONNECTOR_DEPENDENCIES[version][connector]
    return out


def connector_jars(schemes: list[str] | tuple[str, ...] | set[str]) -> list[Path]:
    """The Hadoop connector jars for ``s3a``/``abfss``/``wasbs`` lakes (fetched once)."""
    return maven_copy(connector_artifacts(schemes), cache_dir() / "jars")
