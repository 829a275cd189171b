"""Every FileStore against its real server: local disk, moto S3, Azurite, OpenSSH sftp."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cdp_pipelines.transports import (
    FileStore,
    MissingSecretError,
    RemoteFileNotFound,
    TransportConfigError,
    TransportError,
    make_store,
    parse_options,
)
from cdp_pipelines.transports.local import TEMP_PREFIX

STORE_TYPES = ["local", "s3", "azure_blob", "sftp"]
# Bytes a text-mode or encoding slip would corrupt.
PAYLOAD = b"id,name\r\n1,\xc3\xa9milie\n\x00\xff binary tail\n"


def store_config(kind: str, request, monkeypatch, tmp_path) -> dict:
    """A config for ``kind`` under a fresh prefix, with its secrets in env vars."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    if kind == "local":
        return {"type": "local", "root": str(tmp_path / prefix)}
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        monkeypatch.setenv("TEST_S3_KEY_ID", "test-key")
        monkeypatch.setenv("TEST_S3_SECRET", "test-secret-value")
        return {
            "type": "s3",
            "bucket": "cdp-test",
            "prefix": prefix,
            "endpoint_url": endpoint,
            "region": "us-east-1",
            "access_key_id_env": "TEST_S3_KEY_ID",
            "secret_access_key_env": "TEST_S3_SECRET",
        }
    if kind == "azure_blob":
        azurite = request.getfixturevalue("azurite")
        monkeypatch.setenv("TEST_AZURE_CONN", azurite.connection_string)
        return {
            "type": "azure_blob",
            "container": "cdp-test",
            "prefix": prefix,
            "create_container": True,
            "connection_string_env": "TEST_AZURE_CONN",
        }
    sshd = request.getfixturevalue("sshd")
    root = sshd.root / prefix
    root.mkdir()
    monkeypatch.setenv("TEST_SFTP_KEY", sshd.private_key_file.read_text())
    return {
        "type": "sftp",
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.username,
        "root": str(root),
        "private_key_env": "TEST_SFTP_KEY",
        "known_hosts_file": str(sshd.known_hosts_file),
    }


@pytest.fixture(params=STORE_TYPES)
def store(request, monkeypatch, tmp_path) -> FileStore:
    config = store_config(request.param, request, monkeypatch, tmp_path)
    made = make_store(parse_options(config))
    yield made
    made.close()


def test_write_list_with_pattern_and_read_back_exact_bytes(store):
    assert isinstance(store, FileStore)
    store.write_bytes("exports/2026-11-01.csv", PAYLOAD)
    store.write_bytes("exports/2026-11-02.csv", PAYLOAD * 2)
    store.write_bytes("exports/readme.txt", b"not a csv")
    store.write_bytes("other/2026-11-03.csv", b"elsewhere")

    csvs = store.list("exports/*.csv")
    assert [f.path for f in csvs] == ["exports/2026-11-01.csv", "exports/2026-11-02.csv"]
    assert [f.size for f in csvs] == [len(PAYLOAD), 2 * len(PAYLOAD)]
    now = datetime.now(timezone.utc)
    for remote in csvs:
        assert remote.modified.tzinfo is not None
        assert abs(remote.modified - now) < timedelta(minutes=5)

    assert [f.path for f in store.list("exports/")] == [
        "exports/2026-11-01.csv",
        "exports/2026-11-02.csv",
        "exports/readme.txt",
    ]
    assert [f.path for f in store.list("*/2026-11-0[23].csv")] == [
        "exports/2026-11-02.csv",
        "other/2026-11-03.csv",
    ]
    assert len(store.list()) == 4
    assert store.list("missing-dir/") == []

    assert store.read_bytes("exports/2026-11-01.csv") == PAYLOAD
    with store.open_read("exports/2026-11-02.csv") as stream:
        chunks = iter(lambda: stream.read(7), b"")
        assert b"".join(chunks) == PAYLOAD * 2


def test_overwrite_replaces_whole_file_and_leaves_no_temporary(store, tmp_path):
    store.write_bytes("out/audience.csv", b"old content that is fairly long\n" * 50)
    store.write_bytes("out/audience.csv", b"new\n")
    assert store.read_bytes("out/audience.csv") == b"new\n"

    local = tmp_path / "upload.bin"
    local.write_bytes(PAYLOAD * 3)
    store.upload_file(local, "out/audience.csv")
    assert store.read_bytes("out/audience.csv") == PAYLOAD * 3
    assert [(f.path, f.size) for f in store.list("out/")] == [
        ("out/audience.csv", 3 * len(PAYLOAD)),
    ]

    with pytest.raises(TransportError):
        store.upload_file(tmp_path / "no-such-file.csv", "out/audience.csv")
    assert store.read_bytes("out/audience.csv") == PAYLOAD * 3


def test_exists_and_delete(store):
    store.write_bytes("gone/soon.csv", PAYLOAD)
    assert store.exists("gone/soon.csv")
    assert not store.exists("gone/never.csv")
    store.delete("gone/soon.csv")
    assert not store.exists("gone/soon.csv")
    store.delete("gone/soon.csv")  # already gone: retries must not fail
    with pytest.raises(RemoteFileNotFound, match="gone/soon.csv"):
        store.read_bytes("gone/soon.csv")


def test_paths_may_not_climb_out_of_the_root(store):
    with pytest.raises(TransportConfigError, match=r"climbs out"):
        store.write_bytes("../escape.csv", b"x")
    with pytest.raises(TransportConfigError, match=r"climbs out"):
        store.list("../")


@pytest.mark.parametrize(
    "kind,secret_key",
    [
        ("s3", "secret_access_key_env"),
        ("azure_blob", "connection_string_env"),
        ("sftp", "private_key_env"),
    ],
)
def test_missing_secret_names_the_variable(kind, secret_key, request, monkeypatch, tmp_path):
    config = store_config(kind, request, monkeypatch, tmp_path)
    config[secret_key] = "CDP_TEST_UNSET_SECRET"
    monkeypatch.delenv("CDP_TEST_UNSET_SECRET", raising=False)
    with pytest.raises(MissingSecretError, match="CDP_TEST_UNSET_SECRET") as caught:
        make_store(parse_options(config))
    assert secret_key in str(caught.value)


def test_a_secret_written_into_config_is_refused(sshd):
    with pytest.raises(TransportConfigError, match="password_env"):
        make_store(parse_options(
            {"type": "sftp", "host": sshd.host, "username": "u", "password": "hunter2"}
        ))


@pytest.mark.parametrize("kind", ["s3", "azure_blob", "sftp"])
def test_secrets_do_not_appear_in_repr(kind, request, monkeypatch, tmp_path):
    config = store_config(kind, request, monkeypatch, tmp_path)
    secret_env = {"s3": "TEST_S3_SECRET", "azure_blob": "TEST_AZURE_CONN", "sftp": "TEST_SFTP_KEY"}
    secret = os.environ[secret_env[kind]]
    made = make_store(parse_options(config))
    try:
        shown = repr(made) + str(made) + repr(vars(made))
    finally:
        made.close()
    assert secret not in shown
    assert "AccountKey" not in shown


def test_unknown_key_and_type_are_clear_errors(tmp_path):
    with pytest.raises(TransportConfigError, match=r"local\.rooot: Extra inputs are not permitted"):
        make_store(parse_options({"type": "local", "root": str(tmp_path), "rooot": "typo"}))
    with pytest.raises(TransportConfigError, match="Input tag 'ftp' found using 'type'"):
        make_store(parse_options({"type": "ftp"}))


def test_sftp_rejects_an_unknown_host_key_by_default(sshd, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_SFTP_KEY", sshd.private_key_file.read_text())
    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    config = {
        "type": "sftp",
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.username,
        "root": str(sshd.root),
        "private_key_env": "TEST_SFTP_KEY",
        "known_hosts_file": str(empty_known_hosts),
    }
    store = make_store(parse_options(config))
    with pytest.raises(TransportError, match="known_hosts"):
        store.list()
    store.close()

    trusting = make_store(parse_options({**config, "host_key_policy": "auto_add"}))
    try:
        assert isinstance(trusting.list(), list)
    finally:
        trusting.close()


def test_sftp_password_is_sent_and_a_refusal_is_clear(sshd, monkeypatch):
    monkeypatch.setenv("TEST_SFTP_PASSWORD", "wrong-password-3f9a")
    store = make_store(parse_options(
        {
            "type": "sftp",
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.username,
            "password_env": "TEST_SFTP_PASSWORD",
            "known_hosts_file": str(sshd.known_hosts_file),
        }
    ))
    try:
        with pytest.raises(TransportError, match="authentication failed") as caught:
            store.list()
    finally:
        store.close()
    assert "wrong-password-3f9a" not in str(caught.value)


@pytest.mark.parametrize("kind", ["local", "sftp"])
def test_listing_skips_interrupted_uploads(kind, request, monkeypatch, tmp_path):
    config = store_config(kind, request, monkeypatch, tmp_path)
    store = make_store(parse_options(config))
    try:
        store.write_bytes("in/complete.csv", PAYLOAD)
        # What a crashed upload leaves behind; both roots are directories on this machine.
        (Path(config["root"]) / "in" / f"{TEMP_PREFIX}complete.csv.1").write_bytes(b"partial")
        assert [f.path for f in store.list("in/")] == ["in/complete.csv"]
    finally:
        store.close()


def test_an_azure_account_is_named_once():
    """A connection string, or an account URL (with a key's variable, or Azure's default
    credential): never both, never neither, and a key only with the URL."""
    from pydantic import ValidationError

    base = {"type": "azure_blob", "container": "c"}
    for wrong in ({}, {"connection_string_env": "X", "account_url": "https://a.blob.x"},
                  {"connection_string_env": "X", "account_key_env": "K"}):
        with pytest.raises((TransportConfigError, ValidationError), match="account"):
            parse_options({**base, **wrong})
    assert parse_options({**base, "account_url": "https://a.blob.core.windows.net"}
                         ).account_key_env is None
