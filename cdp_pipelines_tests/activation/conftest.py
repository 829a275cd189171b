"""Real servers and a lake for the delivery tests; each server starts only if a test uses it.

The pattern of cdp_pipelines_tests/transports/conftest.py: session-scoped servers from
cdp_pipelines_tests/servers.py, secrets handed over in environment variables.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from cdp_pipelines_tests import servers

REST_TOKEN = "delivery-test-token-7c2e"
S3_BUCKET = "cdp-delivery"


@pytest.fixture(scope="session")
def delivery_service_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("delivery-services")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    import boto3

    with servers.moto_s3_server() as endpoint:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=S3_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def azurite(delivery_service_dir) -> servers.AzuriteInfo:
    with servers.azurite_server(delivery_service_dir) as info:
        yield info


@pytest.fixture(scope="session")
def sshd(delivery_service_dir) -> servers.SshServerInfo:
    with servers.sftp_server(delivery_service_dir) as info:
        yield info


@pytest.fixture(scope="session")
def postgres() -> servers.PostgresInfo:
    with servers.postgres_server() as info:
        yield info


@pytest.fixture(scope="session")
def rest_session_server() -> servers.ScriptedHttpServer:
    with servers.rest_server([], token=REST_TOKEN) as server:
        yield server


@pytest.fixture
def rest(rest_session_server, monkeypatch) -> servers.ScriptedHttpServer:
    """The session's REST server with a clean script and log, and its token in an env var."""
    rest_session_server.reset()
    monkeypatch.setenv("DELIVERY_REST_TOKEN", REST_TOKEN)
    yield rest_session_server
    rest_session_server.reset()


@pytest.fixture(scope="session")
def pgp_keys(tmp_path_factory) -> dict[str, Path]:
    """A fresh key pair protected by a passphrase, exported to files."""
    out = tmp_path_factory.mktemp("delivery-pgp")
    passphrase = "delivery test passphrase"
    with tempfile.TemporaryDirectory(prefix="cdp-gpg-keygen-") as home:
        gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
               "--passphrase", passphrase]
        try:
            subprocess.run(
                [*gpg, "--quick-gen-key", "CDP Delivery Test <delivery@example.invalid>",
                 "future-default", "default", "never"],
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
        "public": out / "public.asc",
        "private": out / "private.asc",
        "passphrase_file": out / "passphrase",
    }


@pytest.fixture
def deployment(tmp_path):
    """Production, on a lake of its own."""
    from cdp_pipelines.deployment import Deployment

    return Deployment(lake_root=str(tmp_path / "lake"))


@pytest.fixture
def log(spark, deployment):
    from cdp_pipelines.activation.delivery_log import DeliveryLog

    return DeliveryLog(spark, deployment)


@pytest.fixture
def audience():
    """Six campaign rows as an audience query returns them; one has no email."""
    import pandas as pd

    return pd.DataFrame(
        {
            "amperity_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
            "email": ["ann@example.com", "bob@example.com", None, "dee@example.com",
                      "eve@example.com", "fay@example.com"],
            "given_name": ["Ann", "Bob", "Cy", "Dée", "Eve", "Fay"],
            "lifetime_revenue": [120.5, 80.0, 15.25, 0.0, 300.0, 42.0],
        }
    )


@pytest.fixture
def template():
    from cdp_pipelines.activation.templates import TemplateSpec

    return TemplateSpec(
        name="email_vendor",
        fields={"customer_id": "amperity_id", "Email": "email", "First Name": "given_name",
                "ltv": "lifetime_revenue"},
        static={"list": "spring"},
        required=["Email"],
    )
