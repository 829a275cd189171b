"""Session-scoped real servers for the transport tests; each starts only if a test uses it."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from cdp_pipelines_tests import servers

REST_TOKEN = "rest-test-token-5b1f"
REST_RECORDS = [{"id": i, "name": f"customer-{i}"} for i in range(1, 8)]


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


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
        ).create_bucket(Bucket="cdp-test")
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
def rest_session_server() -> servers.ScriptedHttpServer:
    with servers.rest_server(REST_RECORDS, token=REST_TOKEN) as server:
        yield server


@pytest.fixture
def rest(rest_session_server, monkeypatch) -> servers.ScriptedHttpServer:
    """The session's REST server with a clean script and log, and its token in REST_TOKEN."""
    rest_session_server.reset()
    monkeypatch.setenv("REST_TOKEN", REST_TOKEN)
    yield rest_session_server
    rest_session_server.reset()


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
