"""Starting, finding and stopping the local server; clear errors for broken setups."""

from __future__ import annotations

import socket

import pytest

from cdp_pipelines.resources import trino_server as ts
from cdp_pipelines.resources.trino_server import TrinoServerError
from cdp_pipelines_tests.conftest import free_port


def test_status_and_idempotent_start(trino_server):
    found = ts.status(trino_server.home)
    assert (found.pid, found.port) == (trino_server.pid, trino_server.port)
    # Starting again (even asking for another port) hands back the running server.
    again = ts.start(trino_server.home, port=free_port())
    assert (again.pid, again.port) == (trino_server.pid, trino_server.port)


def test_server_listens_on_loopback_only(trino_server):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError):
            sock.bind(("127.0.0.1", trino_server.port))
    config = (trino_server.home / "etc" / "node.properties").read_text()
    assert "node.bind-ip=127.0.0.1" in config


def test_port_in_use_is_a_clear_error(tmp_path, trino_server):
    with pytest.raises(TrinoServerError, match=f"Port {trino_server.port} .* already in use"):
        ts.start(tmp_path / "other", port=trino_server.port)


def test_invalid_port_is_a_clear_error(tmp_path):
    with pytest.raises(TrinoServerError, match="70000 is not a valid TCP port"):
        ts.start(tmp_path / "home", port=70000)


def test_unusable_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_TRINO_JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(TrinoServerError, match="CDP_TRINO_JAVA_HOME=.*no-jdk.*Java >= 24"):
        ts.start(tmp_path / "home", port=free_port())
    assert ts.status(tmp_path / "home") is None


def test_old_java_is_refused(monkeypatch):
    monkeypatch.setenv("CDP_TRINO_JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    with pytest.raises(TrinoServerError, match="Java 17"):
        ts.find_java_home()


def test_broken_catalog_fails_with_the_reason_then_start_stop_cycle(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    broken = home / "etc" / "catalog" / "broken.properties"
    broken.parent.mkdir(parents=True)
    broken.write_text("connector.name=no_such_connector\n")
    with pytest.raises(TrinoServerError, match="exited .*\n(.|\n)*no_such_connector") as failed:
        ts.start(home, port=port)
    assert "server.log" in str(failed.value)
    assert ts.status(home) is None

    broken.unlink()
    server = ts.start(home, port=port)
    try:
        assert ts.status(home).pid == server.pid
    finally:
        assert ts.stop(home) is True
    assert ts.status(home) is None
    assert ts.stop(home) is False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
