"""Spark's access to a lake on an object store: which Hadoop connectors a session needs,
and the connector settings for the lake's bucket, from the environment.

The settings are per bucket (``fs.s3a.bucket.<bucket>.*``), so a session may read one
bucket as one endpoint and another elsewhere, and they are set on the running session's
Hadoop configuration where a resource starts it: keys read from ``AWS_*`` variables live
only in the JVM's memory (Spark redacts ``*.secret.key`` wherever it shows settings), never
in code, logs or asset metadata.

Delta on S3 commits through its single-driver log store: one writer (one Spark driver) per
table at a time. Dagster's concurrency pools keep runs from writing one layer at once;
two deployments writing the same table would need Delta's DynamoDB log store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cdp_pipelines.resources.lake_files import (
    AZURE_SCHEMES,
    S3_SCHEMES,
    S3Settings,
    scheme_of,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SIMPLE = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
_TEMPORARY = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"


def connector_schemes(locations: Iterable[str]) -> set[str]:
    """The object-store schemes among ``locations`` (``s3a``, ``abfss``, ...)."""
    out = set()
    for location in locations:
        scheme = scheme_of(location)
        if scheme in ("s3", "s3n"):
            raise ValueError(f"{location}: Spark reads S3 as s3a://, not {scheme}://")
        if scheme in ("wasb", "wasbs"):
            # hadoop-azure 3.5 refuses them ("WASB Driver ... is no longer supported").
            raise ValueError(f"{location}: the Hadoop of this Spark no longer reads "
                             f"{scheme}://; name the same container as abfs{scheme[4:]}://"
                             "container@account.dfs.core.windows.net/...")
        if scheme in S3_SCHEMES + AZURE_SCHEMES:
            out.add(scheme)
    return out


def hadoop_settings(locations: Iterable[str], env: Mapping[str, str] | None = None,
                    with_secrets: bool = True) -> dict[str, str]:
    """Hadoop settings that let Spark reach the buckets of ``locations`` (``s3a://``) and
    the storage accounts of ``abfs(s)://`` ones."""
    env = os.environ if env is None else env
    settings = S3Settings.from_env(env)
    credentials = S3Settings.credentials(env)
    out: dict[str, str] = {}
    for location in locations:
        if scheme_of(location) in ("abfs", "abfss"):
            out.update(_abfs_settings(str(location), env, with_secrets))
        if scheme_of(location) != "s3a":
            continue
        prefix = f"fs.s3a.bucket.{urlsplit(str(location)).netloc}."
        out[prefix + "path.style.access"] = str(settings.path_style).lower()
        out[prefix + "endpoint.region"] = settings.region
        if settings.endpoint:
            out[prefix + "endpoint"] = settings.endpoint
            out[prefix + "connection.ssl.enabled"] = str(
                urlsplit(settings.endpoint).scheme != "http").lower()
        if credentials:
            # Keys in the environment: the driver's JVM may have started before they were
            # set (a long-lived process), so they are handed over, not looked up again.
            out[prefix + "aws.credentials.provider"] = (
                _TEMPORARY if "session_token" in credentials else _SIMPLE)
            if with_secrets:
                out[prefix + "access.key"] = credentials["access_key"]
                out[prefix + "secret.key"] = credentials["secret_key"]
                if "session_token" in credentials:
                    out[prefix + "session.token"] = credentials["session_token"]
    return out


def _abfs_settings(location: str, env: Mapping[str, str],
                   with_secrets: bool) -> dict[str, str]:
    """hadoop-azure's ABFS driver for ``abfs[s]://container@account.dfs.core.windows.net``:
    the account key from ``AZURE_STORAGE_KEY`` (else the driver's own auth settings, e.g. a
    service principal in ``fs.azure.account.*`` of CDP_SPARK_CONF); ``CDP_AZURE_BLOB_ENDPOINT``
    names an emulator's blob endpoint (Azurite, ``http://127.0.0.1:10000``)."""
    host = urlsplit(location).netloc.partition("@")[2]
    out: dict[str, str] = {}
    if env.get("AZURE_STORAGE_KEY") and with_secrets:
        out[f"fs.azure.account.key.{host}"] = env["AZURE_STORAGE_KEY"]
    endpoint = env.get("CDP_AZURE_BLOB_ENDPOINT")
    if endpoint:
        parts = urlsplit(endpoint)
        out.update({
            "fs.azure.abfs.endpoint": parts.netloc,
            "fs.azure.always.use.https": str(parts.scheme == "https").lower(),
            # An emulator serves the Blob API only: a flat-namespace account reached
            # through its blob endpoint, with the JDK's HTTP client (the default Apache
            # client insists on a TLS socket factory even for http://).
            "fs.azure.account.hns.enabled": "false",
            "fs.azure.fns.account.service.type": "BLOB",
            "fs.azure.ingress.service.type": "BLOB",
            "fs.azure.networking.library": "JDK_HTTP_URL_CONNECTION",
        })
    return out


def configure_lake_access(spark: "SparkSession", locations: Iterable[str]) -> None:
    """Set the connector settings of ``locations`` on the session's Hadoop configuration."""
    locations = list(locations)
    if not connector_schemes(locations):
        return
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in hadoop_settings(locations).items():
        conf.set(key, value)


def has_connector(spark: "SparkSession", scheme: str) -> bool:
    """Can the running session load the file system class of ``scheme``?"""
    jvm = spark.sparkContext._jvm
    name = ("org.apache.hadoop.fs.s3a.S3AFileSystem" if scheme in S3_SCHEMES
            else "org.apache.hadoop.fs.azurebfs.AzureBlobFileSystem")
    try:
        jvm.java.lang.Class.forName(name, False,
                                    jvm.java.lang.Thread.currentThread().getContextClassLoader())
        return True
    except Exception:  # noqa: BLE001 - py4j wraps ClassNotFoundException
        return False
