"""The lake's file layer and the settings it derives, without a server: local locations stay
pathlib Paths, URIs become ObjectPaths that name what they point at, and the S3 settings of
Spark and Trino come from the AWS variables with no key written where it should not be."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_pipelines.deployment import Deployment, DeploymentError
from cdp_pipelines.resources.lake_files import LakeStoreError, ObjectPath, lake_path
from cdp_pipelines.resources.lake_storage import connector_schemes, hadoop_settings
from cdp_pipelines.resources.trino_catalog import delta_catalog, trino_location

ENV = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1",
       "AWS_ACCESS_KEY_ID": "key-id", "AWS_SECRET_ACCESS_KEY": "very-secret"}


def test_local_locations_stay_paths_and_uris_become_object_paths(tmp_path) -> None:
    assert lake_path(str(tmp_path)) == tmp_path and isinstance(lake_path(str(tmp_path)), Path)
    assert lake_path(f"file://{tmp_path}") == tmp_path
    path = lake_path("s3a://bucket/acme/prod/landing") / "shop/a.csv"
    assert isinstance(path, ObjectPath)
    assert str(path) == "s3a://bucket/acme/prod/landing/shop/a.csv"
    assert path.name == "a.csv" and str(path.parent) == "s3a://bucket/acme/prod/landing/shop"
    assert str(path.with_name(".a.csv.partial")).endswith("/shop/.a.csv.partial")
    assert path.relative_to("s3a://bucket/acme/prod/landing").as_posix() == "shop/a.csv"
    assert str(lake_path("abfss://lake@acct.dfs.core.windows.net/acme") / "x") == \
        "abfss://lake@acct.dfs.core.windows.net/acme/x"
    with pytest.raises(LakeStoreError, match="may not contain '..'"):
        lake_path("s3a://bucket/acme") / "../other"
    with pytest.raises(LakeStoreError, match="unsupported lake store 'gs'"):
        lake_path("gs://bucket/acme")


def test_spark_gets_per_bucket_settings_from_the_aws_variables() -> None:
    conf = hadoop_settings(["s3a://bucket/acme", "/local/lake"], ENV)
    assert conf == {
        "fs.s3a.bucket.bucket.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.bucket.bucket.endpoint.region": "eu-west-1",
        "fs.s3a.bucket.bucket.path.style.access": "true",
        "fs.s3a.bucket.bucket.connection.ssl.enabled": "false",
        "fs.s3a.bucket.bucket.aws.credentials.provider":
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.bucket.bucket.access.key": "key-id",
        "fs.s3a.bucket.bucket.secret.key": "very-secret"}
    # On AWS itself, without keys: virtual-host addressing and the SDK's own chain.
    assert hadoop_settings(["s3a://b2/x"], {"AWS_REGION": "us-west-2"}) == {
        "fs.s3a.bucket.b2.endpoint.region": "us-west-2",
        "fs.s3a.bucket.b2.path.style.access": "false"}
    assert connector_schemes(["s3a://b/x", "/tmp/lake"]) == {"s3a"}
    with pytest.raises(ValueError, match="Spark reads S3 as s3a://"):
        connector_schemes(["s3://b/x"])


def test_trino_catalog_follows_the_lake_without_writing_keys(tmp_path) -> None:
    local = delta_catalog(tmp_path, str(tmp_path / "lake"), ENV)
    assert local["fs.native-local.enabled"] == "true" and "fs.native-s3.enabled" not in local
    s3 = delta_catalog(tmp_path, "s3a://bucket/acme", ENV)
    assert s3["hive.metastore.catalog.dir"] == "s3://bucket/acme/_trino/metastore"
    assert s3["s3.endpoint"] == "http://127.0.0.1:9000" and s3["s3.region"] == "eu-west-1"
    assert s3["s3.aws-secret-key"] == "${ENV:AWS_SECRET_ACCESS_KEY}"
    assert "very-secret" not in repr(s3) and "key-id" not in repr(s3)
    assert trino_location("s3a://bucket/acme/prod/c360/x") == "s3://bucket/acme/prod/c360/x"
    # Temporary credentials: Trino's static keys have no session token, so none are named
    # and the SDK's chain reads the three variables from the server's environment.
    temporary = delta_catalog(tmp_path, "s3a://bucket/acme",
                              {**ENV, "AWS_SESSION_TOKEN": "token-value"})
    assert not [k for k in temporary if k.startswith("s3.aws-")]
    assert "token-value" not in repr(temporary)


def test_a_sandbox_write_guard_sees_through_dot_dots_in_uris() -> None:
    sandbox = Deployment(lake_root="s3a://bucket/acme", sandbox="trial")
    assert sandbox.check_writable("s3a://bucket/acme/branches/trial/domain/t") == \
        "s3a://bucket/acme/branches/trial/domain/t"
    with pytest.raises(DeploymentError, match="may only write under "
                                              "s3a://bucket/acme/branches/trial, not"):
        sandbox.check_writable("s3a://bucket/acme/branches/trial/../../prod/domain/t")
