"""The Delta Lake catalog of the embedded Trino, following where the lake is.

A local lake: Trino's native local file system and a file metastore in the server's home.
A lake on S3 (``s3a://bucket/prefix``): Trino's native S3 file system, pointed where the
project's Spark and Python point (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``,
``AWS_REGION``, path-style for an S3-compatible endpoint), and the file metastore on the
bucket. Credentials are never written into the catalog file: it names the environment
variables (Trino's ``${ENV:NAME}``) that the server process is started with, or leaves
them out so the AWS SDK's default chain (profiles, instance roles, temporary keys with
AWS_SESSION_TOKEN) decides.

A production Trino keeps its own catalog; the project only needs its URL and catalog name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cdp_pipelines.resources.lake_files import S3Settings, scheme_of

# Beside the deployments' prefixes (prod/, branches/): the server's, not a deployment's.
METASTORE_DIR = "_trino/metastore"


class TrinoCatalogError(ValueError):
    """The embedded Trino cannot read a lake kept there."""


def trino_location(location: str) -> str:
    """A lake location as Trino names it: Spark's ``s3a://`` is Trino's ``s3://``."""
    return "s3://" + location.split("://", 1)[1] if scheme_of(location) == "s3a" else location


def delta_catalog(home: Path, lake_root: str | None,
                  env: Mapping[str, str] | None = None) -> dict[str, object]:
    """The properties of the ``delta`` catalog for a lake at ``lake_root``."""
    env = os.environ if env is None else env
    props: dict[str, object] = {
        "connector.name": "delta_lake",
        "hive.metastore": "file",
        "delta.register-table-procedure.enabled": "true",
    }
    scheme = scheme_of(lake_root or "")
    if scheme == "file":
        props.update({
            # The native local file system lists files as local:///... locations; the file
            # metastore finds its schemas by cutting the catalog directory off those, so
            # with file:///... it lists no schema at all (SHOW SCHEMAS/TABLES, DESCRIBE and
            # information_schema come back empty) while SELECT by name still works.
            "hive.metastore.catalog.dir": f"local://{home / 'metastore'}",
            "fs.native-local.enabled": "true",
            "local.location": "/",
        })
        return props
    if scheme not in ("s3a", "s3"):
        raise TrinoCatalogError(
            f"the embedded Trino reads a local or S3 lake, not {lake_root}: point "
            "CDP_TRINO_HOST/CDP_TRINO_PORT at a Trino whose catalog reads it")
    s3 = S3Settings.from_env(env)
    root = trino_location(lake_root or "").rstrip("/")
    props.update({
        "hive.metastore.catalog.dir": f"{root}/{METASTORE_DIR}",
        "fs.native-s3.enabled": "true",
        "s3.region": s3.region,
        "s3.path-style-access": str(s3.path_style).lower(),
    })
    if s3.endpoint:
        props["s3.endpoint"] = s3.endpoint
    credentials = S3Settings.credentials(env)
    # Trino's static keys carry no session token: temporary credentials (STS, SSO) are left
    # to the AWS SDK's default chain, which reads all three variables from the server's
    # environment.
    if credentials and "session_token" not in credentials:
        props["s3.aws-access-key"] = "${ENV:AWS_ACCESS_KEY_ID}"
        props["s3.aws-secret-key"] = "${ENV:AWS_SECRET_ACCESS_KEY}"
    if not urlsplit(root).netloc:
        raise TrinoCatalogError(f"{lake_root}: no bucket")
    return props
