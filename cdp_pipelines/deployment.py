"""Which deployment this process is, and where it may write.

Every environment decision goes through :func:`get_deployment`; nothing else reads
``CDP_*`` variables for locations. Production writes under ``<lake_root>/prod/``; a
sandbox named ``NAME`` writes only under ``<lake_root>/branches/NAME/`` and reads
production's landing files read-only.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("landing", "domain", "stitch", "c360", "activation", "outbox", "_system")
_SANDBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# A spark-defaults.conf line: key, then whitespace and/or one "=" or ":", then the value.
_CONF_LINE = re.compile(r"([^\s=:]+)\s*[=:]?\s*(.*)")
_PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_TENANT_DIR = _PACKAGE_DIR / "examples" / "demo_tenant"
# Where `make demo` keeps the demo's production tenant, a git repository of its own
# (cdp_pipelines.examples.demo_repo), relative to the directory cdp runs in, like the lake.
DEMO_TENANT_REPO = Path(".cdp/demo/tenant")


class DeploymentError(ValueError):
    """A deployment setting is wrong, or a write would leave the deployment's prefix."""


def _is_uri(path: str) -> bool:
    return "://" in path


def _join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        part = str(part).strip("/")
        if part:
            out = f"{out}/{part}"
    return out


def _normalise_uri(uri: str) -> str:
    """``scheme://authority/a/../b`` as ``scheme://authority/b``: a write guard compares
    where a path really points."""
    scheme, rest = uri.split("://", 1)
    authority, _, path = rest.partition("/")
    path = posixpath.normpath("/" + path).lstrip("/") if path.strip("/") else ""
    return f"{scheme}://{authority}" + (f"/{path}" if path else "")


def _normalise_root(root: str) -> str:
    if _is_uri(root):
        scheme, rest = root.split("://", 1)
        if scheme == "file":
            return str(Path(rest).resolve())
        return f"{scheme}://{rest.rstrip('/')}"
    return str(Path(root).expanduser().resolve())


@dataclass(frozen=True)
class Deployment:
    """Where one deployment (production or a sandbox) keeps its data."""

    lake_root: str
    sandbox: str | None = None
    tenant_dir: Path = field(default=DEMO_TENANT_DIR)
    spark_master: str = "local[*]"
    # Spark settings (any spark.* key): CDP_SPARK_* variables and the CDP_SPARK_CONF file.
    spark_conf: tuple[tuple[str, str], ...] = ()
    # The workers' Python (CDP_SPARK_PYTHON): on a cluster, an interpreter of the workers'
    # machines with the project's packages, never the driver's path.
    spark_python: str | None = None
    # Object-store schemes besides the lake's whose Hadoop connectors Spark loads at start
    # (CDP_SPARK_FILESYSTEMS, e.g. "s3a,abfss"): for inputs outside the lake.
    spark_filesystems: tuple[str, ...] = ()
    # Trino that analysts query; the embedded default is started by `cdp trino start`.
    trino_host: str = "127.0.0.1"
    trino_port: int = 8088
    trino_user: str = "admin"
    trino_home: Path = field(default=Path(".cdp/trino").resolve())
    # The event collector's local spool when the lake is on object storage
    # (CDP_COLLECT_SPOOL): its journals, shipped to the lake as they close.
    collect_spool: str | None = None

    def __post_init__(self) -> None:
        if self.sandbox is not None and not _SANDBOX_NAME.match(self.sandbox):
            raise DeploymentError(
                f"CDP_SANDBOX={self.sandbox!r} is not a valid sandbox name: use lower-case "
                "letters, digits, '-' and '_', starting with a letter or digit."
            )

    @property
    def name(self) -> str:
        return self.sandbox or "prod"

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    @property
    def prefix(self) -> str:
        return f"branches/{self.sandbox}" if self.sandbox else "prod"

    @property
    def schema_prefix(self) -> str:
        """Prefix of this deployment's Trino schemas: ``<sandbox>_`` in a sandbox, else none."""
        return f"{self.sandbox}_" if self.sandbox else ""

    @property
    def root(self) -> str:
        """Everything this deployment writes lives under this path."""
        return _join(self.lake_root, self.prefix)

    def path(self, layer: str, *parts: str) -> str:
        """A path this deployment writes to, e.g. ``path("domain", "pos_customers")``."""
        if layer not in LAYERS:
            raise DeploymentError(f"unknown lake layer {layer!r}; expected one of {LAYERS}")
        for part in parts:
            if ".." in str(part).split("/"):
                raise DeploymentError(f"path part {part!r} may not contain '..'")
        return _join(self.root, layer, *parts)

    def landing_read_path(self, *parts: str) -> str:
        """Where raw landed files are read from: production's landing, even in a sandbox."""
        return _join(self.lake_root, "prod", "landing", *parts)

    def check_writable(self, path: str) -> str:
        """Return ``path`` if this deployment may write there, else raise."""
        target = _normalise_uri(path) if _is_uri(path) else str(Path(path).resolve())
        if target != self.root and not target.startswith(self.root + "/"):
            raise DeploymentError(
                f"deployment {self.name!r} may only write under {self.root}, not {path}"
            )
        return target


def default_tenant_dir() -> Path:
    """Without CDP_TENANT_DIR: the demo's tenant repository once `make demo` has made one
    here (so `cdp` commands after the demo, sandboxes included, act on what the demo ran),
    else the bundled demo tenant."""
    repo = DEMO_TENANT_REPO.resolve()
    return repo if (repo / "tenant.yaml").is_file() else DEMO_TENANT_DIR


def get_deployment(env: dict[str, str] | None = None) -> Deployment:
    """Read the deployment from the environment (``os.environ`` unless given)."""
    env = dict(os.environ if env is None else env)
    sandbox = env.get("CDP_SANDBOX") or None
    tenant = env.get("CDP_TENANT_DIR")
    return Deployment(
        lake_root=_normalise_root(env.get("CDP_LAKE_ROOT", "./.cdp/lake")),
        sandbox=sandbox,
        tenant_dir=Path(tenant).expanduser().resolve() if tenant else default_tenant_dir(),
        spark_master=env.get("CDP_SPARK_MASTER", "local[*]"),
        spark_conf=spark_conf(env),
        spark_python=env.get("CDP_SPARK_PYTHON") or None,
        spark_filesystems=tuple(s.strip() for s in env.get("CDP_SPARK_FILESYSTEMS", "")
                                .split(",") if s.strip()),
        trino_host=env.get("CDP_TRINO_HOST", "127.0.0.1"),
        trino_port=int(env.get("CDP_TRINO_PORT", "8088")),
        trino_user=env.get("CDP_TRINO_USER", "admin"),
        trino_home=Path(env.get("CDP_TRINO_HOME", ".cdp/trino")).expanduser().resolve(),
        collect_spool=env.get("CDP_COLLECT_SPOOL") or None,
    )


# CDP_SPARK_<NAME> variables and the Spark setting each one sets.
SPARK_VARIABLES = {
    "CDP_SPARK_DRIVER_MEMORY": "spark.driver.memory",
    "CDP_SPARK_EXECUTOR_MEMORY": "spark.executor.memory",
    "CDP_SPARK_EXECUTOR_CORES": "spark.executor.cores",
    "CDP_SPARK_CORES_MAX": "spark.cores.max",
    "CDP_SPARK_SHUFFLE_PARTITIONS": "spark.sql.shuffle.partitions",
    "CDP_SPARK_UI": "spark.ui.enabled",
    "CDP_SPARK_LOG_LEVEL": "spark.log.level",
}


def spark_conf(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Spark settings from the environment: the file CDP_SPARK_CONF names (Spark's own
    ``spark-defaults.conf`` format: ``key value`` or ``key=value`` lines, ``#`` comments),
    then the CDP_SPARK_* variables, which win."""
    conf: dict[str, str] = {}
    path = env.get("CDP_SPARK_CONF")
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DeploymentError(f"CDP_SPARK_CONF={path}: no such file")
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # As java.util.Properties reads it: the key ends at the first whitespace, '='
            # or ':'; a value may hold either (-XX:TieredStopAtLevel=1).
            key, value = _CONF_LINE.match(line).groups()
            if not key.startswith("spark.") or not value.strip():
                raise DeploymentError(f"{file}:{number}: expected 'spark.<key> <value>', "
                                      f"got {line!r}")
            conf[key] = value.strip()
    conf.update({key: env[var] for var, key in SPARK_VARIABLES.items() if env.get(var)})
    return tuple(sorted(conf.items()))
