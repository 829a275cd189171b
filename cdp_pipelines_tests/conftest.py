"""Session-wide test setup: a temporary lake and Dagster home, one Spark session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdp_pipelines_tests import servers

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="cdp-tests-"))
# Set before any test module imports cdp_pipelines.definitions (which reads them).
os.environ.setdefault("CDP_LAKE_ROOT", str(_SESSION_TMP / "lake"))
os.environ.setdefault("DAGSTER_HOME", str(_SESSION_TMP / "dagster_home"))
os.environ.setdefault("CDP_DEMO_DROP", str(_SESSION_TMP / "demo" / "drop"))
os.environ.setdefault("CDP_TEST_DROP", str(_SESSION_TMP / "drop"))
# The tiny_privacy overlay's privacy.yaml names this secret (salt_env); a test value, never
# logged.
os.environ.setdefault("CDP_TEST_PRIVACY_SALT", "tiny-tenant-test-salt")
# The S3 and Azure lake tests (resources/test_s3_lake.py, test_azure_lake.py) share the
# session's one Spark, so every session this process starts has those connectors on its
# class path (a connector joins only at start).
os.environ.setdefault("CDP_SPARK_FILESYSTEMS", "s3a,abfs")
# The bundled demo tenant, not a `make demo` copy that may sit in .cdp/ of the checkout.
os.environ.setdefault("CDP_TENANT_DIR", str(Path(__file__).resolve().parent.parent
                                            / "cdp_pipelines" / "examples" / "demo_tenant"))
Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

TESTS_DIR = Path(__file__).resolve().parent
TINY_TENANT = TESTS_DIR / "tenants" / "tiny"
# privacy.yaml and a privacy-request source, laid over a copy of the tiny tenant: the privacy
# tests get a tenant of their own, and the tests sharing tiny do not see privacy at all.
TINY_PRIVACY_OVERLAY = TESTS_DIR / "tenants" / "tiny_privacy"


def tiny_privacy_tenant(dest: Path) -> Path:
    """A copy of the tiny tenant at ``dest`` with the tiny_privacy overlay's files added."""
    shutil.copytree(TINY_TENANT, dest)
    shutil.copytree(TINY_PRIVACY_OVERLAY, dest, dirs_exist_ok=True)
    return dest
# Columns the session Trino masks for analysts (the trino/ tests publish this table).
TRINO_PII = {("c360", "customers"): {"email": "varchar", "birthdate": "date"}}
# A user of the session Trino who can log in but whom no access rule names.
TRINO_STRANGER = "mallory"


@pytest.fixture(scope="session")
def spark():
    from cdp_pipelines.resources.spark import build_spark_session

    return build_spark_session("local[2]", shuffle_partitions=2, driver_memory="3g",
                               filesystems=("s3a", "abfs"))


@pytest.fixture(scope="module", autouse=True)
def _drop_cached_frames():
    """After each module, the session's cached DataFrames are dropped: a cache an asset
    leaves behind would otherwise hold storage memory, and slow every later query's
    planning (each is matched against every cached plan), for the rest of the session."""
    yield
    from cdp_pipelines.resources import spark as spark_resource

    session = spark_resource._session
    if session is not None and session.sparkContext._jsc is not None:
        from cdp_pipelines.stitch.matching import release_splink_views

        session.catalog.clearCache()
        release_splink_views(session)


# The tiny tenant's couriers, domain tables and Stitch: what several tests run first.
TINY_STITCH_ASSETS = (
    ["landing", "shop", "shop_customers"], ["landing", "club", "club_members"],
    ["domain", "shop_customers"], ["domain", "club_members"],
    *[["stitch", name] for name in (
        "unified_preprocessed_raw", "stitch_blocklist_values", "unified_scores",
        "unified_coalesced", "unified_changes_clusters", "unified_changes_pks")],
)


@dataclass
class TinyStitch:
    """A first Stitch of the tiny tenant in this process. ``ids`` (pk -> amperity_id) are
    as that run left them; ``lake`` may have moved on since (stitch/test_assets.py runs
    again on it), ``pristine`` holds the lake and drop folder as the run left them."""

    lake: Path
    drop: Path
    defs: object
    instance: object
    result: object
    ids: dict[str, str]
    pristine: Path

    @property
    def model(self) -> Path:
        """The Splink model this run trained (what a lake's ``stitch/models`` holds)."""
        return self.pristine / "lake" / "prod" / "stitch" / "models" / "current.json"

    def copy_to(self, dest: Path) -> tuple[Path, Path]:
        """The lake and drop folder as the first run left them, copied under ``dest``
        (a local lake's Delta tables hold relative paths): a test that needs a first
        Stitch to build on starts from here instead of running one. Returns (lake, drop)."""
        for name in ("lake", "drop"):
            shutil.copytree(self.pristine / name, dest / name)
        return dest / "lake", dest / "drop"


@pytest.fixture(scope="session")
def tiny_stitch(tmp_path_factory, spark) -> TinyStitch:
    """The tiny tenant's first Stitch (stitch/test_assets.py's CUSTOMERS and MEMBERS),
    run once for the tests that check it or compare with it."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from cdp_pipelines.definitions import build_definitions
    from cdp_pipelines_tests.stitch.test_assets import CUSTOMERS, MEMBERS

    base = tmp_path_factory.mktemp("tiny-stitch")
    drop, lake = base / "drop", base / "lake"
    for name, text in (("shop/customers_20261101.csv", CUSTOMERS),
                       ("club/members_1.psv", MEMBERS)):
        (drop / name).parent.mkdir(parents=True, exist_ok=True)
        (drop / name).write_text(text)
    defs = build_definitions({**os.environ, "CDP_LAKE_ROOT": str(lake),
                              "CDP_TENANT_DIR": str(TINY_TENANT), "CDP_TEST_DROP": str(drop)})
    instance = DagsterInstance.ephemeral()
    result = materialize(list(defs.assets), resources=defs.resources,
                         selection=AssetSelection.assets(*TINY_STITCH_ASSETS),
                         instance=instance, raise_on_error=False)
    assert result.success
    ids = {r["pk"]: r["amperity_id"] for r in spark.read.format("delta").load(
        f"{lake}/prod/stitch/unified_coalesced").collect()}
    pristine = base / "pristine"
    for folder in (lake, drop):
        shutil.copytree(folder, pristine / folder.name)
    return TinyStitch(lake, drop, defs, instance, result, ids, pristine)


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


# One real Trino 476 server for the whole test session (started on first use).
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def trino_lake(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trino-lake")


@pytest.fixture(scope="session")
def trino_server(tmp_path_factory, trino_lake):
    from cdp_pipelines.resources import trino_access, trino_auth, trino_server

    home = tmp_path_factory.mktemp("trino-home")
    trino_auth.ensure_secrets(home, users=(TRINO_STRANGER,))
    trino_access.write_access_rules(home, TRINO_PII)
    server = trino_server.start(home, port=free_port(), lake_root=trino_lake)
    yield server
    assert trino_server.stop(home)


def _user(server, name: str):
    from cdp_pipelines.resources.trino import TrinoResource

    return TrinoResource.for_server(server, name)


@pytest.fixture(scope="session")
def admin(trino_server):
    return _user(trino_server, "admin")


@pytest.fixture(scope="session")
def analyst(trino_server):
    return _user(trino_server, "analyst")


@pytest.fixture(scope="session")
def restricted(trino_server):
    return _user(trino_server, "restricted")


@pytest.fixture(scope="session")
def demo_standins(tmp_path_factory):
    """The demo tenant's S3 (moto server) and SFTP (sshd) stand-ins, as `make demo` runs
    them, on free ports."""
    from cdp_pipelines.examples import standins

    ins = standins.start(standins.StandIns.on_free_ports(tmp_path_factory.mktemp("standins")))
    yield ins
    assert sorted(standins.stop(ins)) == ["s3", "sftp"]


# Real servers for transports and deliveries (cdp_pipelines_tests/servers.py), shared by
# the whole session; each starts only if a test uses it.
S3_TEST_BUCKETS = ("cdp-test", "cdp-delivery")


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    import boto3

    with servers.moto_s3_server() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        for bucket in S3_TEST_BUCKETS:
            client.create_bucket(Bucket=bucket)
        yield endpoint


@pytest.fixture(scope="session")
def azurite(service_dir) -> servers.AzuriteInfo:
    with servers.azurite_server(service_dir) as info:
        yield info


@pytest.fixture(scope="session")
def sshd(service_dir) -> servers.SshServerInfo:
    with servers.sftp_server(service_dir) as info:
        yield info


@pytest.fixture(scope="session")
def postgres() -> servers.PostgresInfo:
    with servers.postgres_server() as info:
        yield info


@pytest.fixture(scope="session")
def pgp_keys(tmp_path_factory) -> dict[str, Path | str]:
    """A fresh Ed25519/Curve25519 key pair protected by a passphrase, exported to files."""
    out = tmp_path_factory.mktemp("pgp")
    passphrase = "correct horse battery staple"
    with tempfile.TemporaryDirectory(prefix="cdp-gpg-keygen-") as home:
        gpg = [
            "gpg",
            "--homedir",
            home,
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
        ]
        try:
            subprocess.run(
                [
                    *gpg,
                    "--quick-gen-key",
                    "CDP Test <cdp-test@example.invalid>",
                    "future-default",
                    "default",
                    "never",
                ],
                check=True,
                capture_output=True,
            )
            public = subprocess.run(
                [*gpg, "--armor", "--export"], check=True, capture_output=True
            ).stdout
            private = subprocess.run(
                [*gpg, "--armor", "--export-secret-keys"], check=True, capture_output=True
            ).stdout
        finally:
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
    (out / "public.asc").write_bytes(public)
    (out / "private.asc").write_bytes(private)
    (out / "passphrase").write_text(passphrase + "\n")
    return {
        "dir": out,
        "public": out / "public.asc",
        "private": out / "private.asc",
        "passphrase_file": out / "passphrase",
        "passphrase": passphrase,
    }
