"""privacy.yaml and privacy requests as data: errors name the file and field, a malformed
request is refused with its reason, identifiers hash the same however they are written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cdp_pipelines.governance.privacy.requests import RequestError, parse_request
from cdp_pipelines.governance.privacy.suppression import hash_identifier
from cdp_pipelines.tenant import ConfigError, load_tenant
from cdp_pipelines.tenant.secrets import missing_secrets
from cdp_pipelines.transports.credentials import Secret
from cdp_pipelines_tests.conftest import tiny_privacy_tenant

ENV = {"CDP_TEST_DROP": "/data/drop"}


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    return tiny_privacy_tenant(tmp_path / "tenant")


def test_tiny_tenant_privacy_settings(tenant: Path) -> None:
    config = load_tenant(tenant, env=ENV)
    assert config.privacy.salt_env == "CDP_TEST_PRIVACY_SALT"
    assert config.privacy.vacuum_retention_hours == 0
    assert config.privacy.dsar.options.root == "/data/drop/dsar"
    assert [c.name for _, c in config.privacy_request_couriers] == ["privacy_portal"]
    assert config.privacy.identifier_names[-1] == "loyalty_id"


@pytest.mark.parametrize("text, message", [
    ("salt_env: X\nsalt: plain-text\n", "privacy.yaml: salt: Extra inputs are not permitted"),
    ("vacuum_retention_hours: 24\n", "exactly one of 'salt_env'"),
    ("salt_env: X\nvacuum_retention_hours: -1\n", "vacuum_retention_hours"),
    ("salt_env: X\nmatch_keys: [fk-crm]\n", "match_keys[0]: no Stitch feed has a field tagged"),
    ("salt_env: X\nnotify_destinations: [crm]\n", "notify_destinations[0]: 'crm' is not in"),
    ("salt_env: X\ndsar: {type: rest, options: {base_url: 'http://x'}}\n", "not a file transport"),
])
def test_privacy_yaml_errors_name_the_field(tenant: Path, text: str, message: str) -> None:
    (tenant / "privacy.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_tenant(tenant, env=ENV)
    assert message in str(error.value)


def test_a_privacy_request_source_needs_privacy_yaml_and_no_feeds(tenant: Path) -> None:
    (tenant / "privacy.yaml").unlink()
    with pytest.raises(ConfigError, match="privacy-request source needs privacy.yaml"):
        load_tenant(tenant, env=ENV)
    source = tenant / "sources" / "privacy.yaml"
    source.write_text(source.read_text() + "feeds:\n  - {name: x, courier: privacy_portal, "
                      "primary_key: [a], fields: [{name: a}]}\n")
    (tenant / "privacy.yaml").write_text("salt_env: X\n")
    with pytest.raises(ConfigError, match="privacy-request source has no feeds"):
        load_tenant(tenant, env=ENV)


def test_validate_reports_a_missing_salt_by_name_only(tenant: Path, monkeypatch) -> None:
    monkeypatch.delenv("CDP_TEST_PRIVACY_SALT", raising=False)
    problems = missing_secrets(load_tenant(tenant, env=ENV))
    assert problems == ["privacy.yaml: environment variable CDP_TEST_PRIVACY_SALT (named by "
                        "'salt_env') is not set or is empty; export it before running"]


@pytest.mark.parametrize("record, reason", [
    ({"type": "delete", "email": "a@b.com", "received": "2026-01-01"}, "request_id is missing"),
    ({"request_id": "1", "type": "erase", "email": "a@b.com", "received": "2026-01-01"},
     "type must be one of"),
    ({"request_id": "1", "type": "delete", "strategy": "fuzzy", "email": "a@b.com",
      "received": "2026-01-01"}, "strategy must be one of"),
    ({"request_id": "1", "type": "delete", "received": "2026-01-01"}, "no identifier"),
    ({"request_id": "1", "type": "delete", "email": "not-an-email", "received": "2026-01-01"},
     "email is not a valid email"),
    ({"request_id": "1", "type": "delete", "address": "1 Main St", "received": "2026-01-01"},
     "address and postal go together"),
    ({"request_id": "1", "type": "delete", "email": "a@b.com"}, "received must be a date"),
    ({"request_id": "1", "type": "delete", "email": "a@b.com", "received": "2026-01-01",
      "ssn": "123"}, "unknown field(s) ['ssn']"),
])
def test_malformed_requests_are_refused_with_a_reason_naming_no_value(record, reason) -> None:
    with pytest.raises(RequestError) as error:
        parse_request(record, None, "test")
    assert reason in str(error.value)
    for value in ("a@b.com", "not-an-email", "1 Main St", "123"):
        assert value not in str(error.value)


def test_a_request_with_nested_identifiers_and_a_configured_key(tenant: Path) -> None:
    spec = load_tenant(tenant, env=ENV).privacy
    request = parse_request({"request_id": "r1", "type": "dsar", "strategy": "connected",
                             "received": "2026-11-20",
                             "identifiers": {"loyalty_id": "L7", "phone": "(212) 555-0123"}},
                            spec, "cli")
    assert request.identifiers == {"loyalty_id": "L7", "phone": "(212) 555-0123"}
    assert request.received == date(2026, 11, 20) and request.strategy == "connected"


def test_identifiers_hash_alike_however_written_and_per_salt() -> None:
    one, other = Secret("salt-1", "test"), Secret("salt-2", "test")
    assert hash_identifier(one, "email", " Bob@Mail.COM ") == \
        hash_identifier(one, "email", "bob@mail.com")
    assert hash_identifier(one, "phone", "(212) 555-0123") == \
        hash_identifier(one, "phone", "+1 212 555 0123")
    assert hash_identifier(one, "email", "bob@mail.com") != \
        hash_identifier(other, "email", "bob@mail.com")
    assert "bob" not in hash_identifier(one, "email", "bob@mail.com")


def test_a_sandbox_applies_requests_only_to_its_own_tables(tmp_path: Path) -> None:
    from cdp_pipelines.deployment import Deployment, DeploymentError
    from cdp_pipelines.governance.privacy.tables import delta_tables
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource

    for prefix in ("prod", "branches/try"):
        for table in ("domain/shop_customers", "stitch/unified_coalesced"):
            (tmp_path / prefix / table / "_delta_log").mkdir(parents=True)
    (tmp_path / "prod" / "_system" / "privacy" / "requests" / "_delta_log").mkdir(parents=True)
    sandbox = DeltaLake.for_deployment(SparkResource(), Deployment(str(tmp_path), "try"))
    tables = delta_tables(sandbox)
    assert tables == [("domain", "shop_customers"), ("stitch", "unified_coalesced")]
    assert all(sandbox.path_for_write(*t).startswith(str(tmp_path / "branches" / "try"))
               for t in tables)
    with pytest.raises(DeploymentError):
        sandbox.deployment.check_writable(str(tmp_path / "prod" / "domain" / "shop_customers"))
    prod = DeltaLake.for_deployment(SparkResource(), Deployment(str(tmp_path)))
    # Privacy's own tables are not searched for the person (they hold hashes and ids).
    assert delta_tables(prod) == tables


def test_matched_records_give_their_segment_ids_to_suppression(tmp_path: Path, spark) -> None:
    """Stitch holds an event source's ids as fk_user / fk_anonymous; suppression and the
    event loader know them as user_id / anonymous_id, the message fields they come from."""
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.governance.privacy.matching import match_requests
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource

    lake = DeltaLake.for_deployment(SparkResource(), Deployment(str(tmp_path)))
    spark.createDataFrame(
        [("shop_customers", "s1", "Bob@Mail.com", "bob@mail.com", None, None),
         ("web_identifies", "e-1", None, "bob@mail.com", "u-bob", "a-7"),
         ("web_identifies", "e-2", None, "dana@mail.com", "u-dana", None)],
        "source string, pk string, email string, email_norm string, fk_user string, "
        "fk_anonymous string").write.format("delta").save(
        lake.path("stitch", "unified_preprocessed_raw"))
    request = parse_request({"request_id": "r1", "type": "delete", "strategy": "exact",
                             "email": "bob@mail.com", "received": "2026-11-20"}, None, "test")
    match = match_requests(lake, [request])["r1"]
    assert set(match.records) == {("shop_customers", "s1"), ("web_identifies", "e-1")}
    assert {("user_id", "u-bob"), ("anonymous_id", "a-7"), ("email", "Bob@Mail.com")} \
        <= match.identifiers
    assert not {k for k, _ in match.identifiers} & {"fk_user", "fk_anonymous"}
    assert "u-dana" not in match.values
