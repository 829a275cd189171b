"""The transport tests' REST server; the other real servers are session fixtures of the
root conftest (each starts only if a test uses it)."""

from __future__ import annotations

import pytest

from cdp_pipelines_tests import servers

REST_TOKEN = "rest-test-token-5b1f"
REST_RECORDS = [{"id": i, "name": f"customer-{i}"} for i in range(1, 8)]


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
