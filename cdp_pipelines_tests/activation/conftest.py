"""The delivery tests' REST server, lake and rows; S3, Azurite, sshd, PostgreSQL and PGP
keys are session fixtures of the root conftest."""

from __future__ import annotations

import pytest

from cdp_pipelines_tests import servers

REST_TOKEN = "delivery-test-token-7c2e"
S3_BUCKET = "cdp-delivery"


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
    from cdp_pipelines.tenant.delivery import TemplateSpec

    return TemplateSpec(
        name="email_vendor",
        fields={"customer_id": "amperity_id", "Email": "email", "First Name": "given_name",
                "ltv": "lifetime_revenue"},
        static={"list": "spring"},
        required=["Email"],
    )
