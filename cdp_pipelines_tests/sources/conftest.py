"""Fixtures for source tests: the session servers, a feed, a local lake."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

# S3, Azurite, sshd, PostgreSQL and the PGP keys are root-conftest session fixtures.
from cdp_pipelines_tests.transports.conftest import (  # noqa: F401 - fixtures re-used
    REST_RECORDS,
    REST_TOKEN,
    rest,
    rest_session_server,
)

REMOTE_TYPES = ["s3", "azure_blob", "sftp"]


def store_options(kind: str, request, monkeypatch) -> dict:
    """Courier options for ``kind`` under a fresh prefix, secrets in env vars."""
    prefix = f"c-{uuid.uuid4().hex[:8]}"
    if kind == "s3":
        monkeypatch.setenv("SRC_S3_KEY_ID", "test-key")
        monkeypatch.setenv("SRC_S3_SECRET", "test-secret")
        return {"bucket": "cdp-test", "prefix": prefix, "region": "us-east-1",
                "endpoint_url": request.getfixturevalue("s3_endpoint"),
                "access_key_id_env": "SRC_S3_KEY_ID", "secret_access_key_env": "SRC_S3_SECRET"}
    if kind == "azure_blob":
        monkeypatch.setenv("SRC_AZURE_CONN", request.getfixturevalue("azurite").connection_string)
        return {"container": "cdp-sources", "prefix": prefix, "create_container": True,
                "connection_string_env": "SRC_AZURE_CONN"}
    server = request.getfixturevalue("sshd")
    root = server.root / prefix
    root.mkdir()
    monkeypatch.setenv("SRC_SFTP_KEY", server.private_key_file.read_text())
    return {"host": server.host, "port": server.port, "username": server.username,
            "root": str(root), "private_key_env": "SRC_SFTP_KEY",
            "known_hosts_file": str(server.known_hosts_file)}


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"
