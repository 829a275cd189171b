"""Who you are: the embedded Trino speaks HTTPS only and knows its users by password.

Passwords and the certificate are generated on first start into the server's secrets
folder; a client without the right password, over plain HTTP, or not trusting the
certificate is refused, with a message saying which of these it was."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources import trino_auth
from cdp_pipelines.resources.trino import TrinoResource, TrinoResourceError

USERS = ("admin", "analyst", "restricted")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwords_are_generated_private_and_never_written_elsewhere(trino_server):
    secrets = trino_server.home / "secrets"
    assert _mode(secrets) == 0o700
    passwords = {}
    for user in USERS:
        path = trino_server.password_file(user)
        assert path.parent == secrets and _mode(path) == 0o600
        passwords[user] = path.read_text().strip()
        assert len(passwords[user]) >= 24
    assert len(set(passwords.values())) == len(USERS)
    hashes = dict(line.split(":", 1) for line in
                  (secrets / "password.db").read_text().splitlines())
    assert set(USERS) <= set(hashes)
    assert all(h.startswith("$2y$10$") for h in hashes.values())
    for name in ("password.db", "shared-secret", "server.pem"):
        assert _mode(secrets / name) == 0o600
    # Neither a password nor the internal shared secret is in a config file or a log.
    shared = trino_auth.shared_secret(trino_server.home)
    written = [p for d in ("etc", "var") for p in (trino_server.home / d).rglob("*")
               if p.is_file()]
    assert any(p.name == "server.log" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert shared not in text, path
        for user, password in passwords.items():
            assert password not in text, (user, path)


def test_client_without_a_password_is_refused(trino_server):
    anonymous = TrinoResource(host=trino_server.host, port=trino_server.port, user="admin",
                              tls_ca_file=str(trino_server.ca_file))
    with pytest.raises(TrinoResourceError, match=r"did not accept user 'admin' \(Unauthorized"):
        anonymous.execute("SELECT 1")


def test_wrong_password_is_refused(trino_server, tmp_path):
    wrong = tmp_path / "password"
    wrong.write_text(trino_server.password_file("analyst").read_text())  # analyst's, not admin's
    claimed = TrinoResource(host=trino_server.host, port=trino_server.port, user="admin",
                            password_file=str(wrong), tls_ca_file=str(trino_server.ca_file))
    with pytest.raises(TrinoResourceError, match="did not accept user 'admin' "
                                                 r"\(Access Denied: Invalid credentials"):
        claimed.execute("SELECT 1")


def test_plain_http_is_refused(trino_server):
    plain = TrinoResource(host=trino_server.host, port=trino_server.port, user="admin",
                          http_scheme="http")
    with pytest.raises(TrinoResourceError, match="did not answer in http"):
        plain.execute("SELECT 1")


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_untrusted_certificate_is_refused_unless_checks_are_off(trino_server):
    # The system's CAs do not know the server's own CA.
    system_cas = TrinoResource.for_server(trino_server, "analyst", tls_ca_file="")
    with pytest.raises(TrinoResourceError, match="certificate is not trusted"):
        system_cas.execute("SELECT 1")
    insecure = TrinoResource.for_server(trino_server, "analyst", tls_verify=False)
    assert insecure.execute("SELECT 1") == [(1,)]


def test_trino_cli_needs_the_password_and_the_certificate(trino_cli):
    assert trino_cli("analyst", "SELECT 1").stdout.strip() == '"1"'
    wrong = trino_cli("analyst", "SELECT 1", password="guess")
    assert wrong.returncode != 0 and "Invalid credentials" in wrong.stderr
    none = trino_cli("analyst", "SELECT 1", password=False)
    assert none.returncode != 0 and "Unauthorized" in none.stderr
    untrusted = trino_cli("analyst", "SELECT 1", tls=())
    assert untrusted.returncode != 0 and "PKIX path building failed" in untrusted.stderr
    insecure = trino_cli("analyst", "SELECT 1", tls=("--insecure",))
    assert insecure.returncode == 0 and insecure.stdout.strip() == '"1"'


def _deployment(tmp_path: Path, host: str = "127.0.0.1") -> Deployment:
    return Deployment(lake_root=str(tmp_path / "lake"), trino_host=host, trino_port=8443,
                      trino_home=tmp_path / "trino")


def test_deployment_credentials_come_from_the_secrets_folder_by_default(tmp_path):
    trino = TrinoResource.for_deployment(_deployment(tmp_path), user="analyst", env={})
    assert (trino.user, trino.http_scheme) == ("analyst", "https")
    assert trino.password_file == str(tmp_path / "trino" / "secrets" / "analyst.password")
    assert trino.tls_ca_file == str(tmp_path / "trino" / "tls" / "ca.pem")
    assert trino.password_env == ""


def test_deployment_credentials_from_the_environment(tmp_path):
    deployment = _deployment(tmp_path)
    env = {"CDP_TRINO_USER": "analyst", "CDP_TRINO_PASSWORD": "s3cret"}
    from_env = TrinoResource.for_deployment(deployment, user="analyst", env=env)
    # The resource names the variable; the value is read when connecting.
    assert (from_env.password_env, from_env.password_file) == ("CDP_TRINO_PASSWORD", "")
    assert "s3cret" not in repr(from_env)
    # CDP_TRINO_PASSWORD is CDP_TRINO_USER's: another user gets their own password file.
    other = TrinoResource.for_deployment(deployment, user="admin", env=env)
    assert other.password_file.endswith("secrets/admin.password")
    from_file = TrinoResource.for_deployment(
        deployment, user="analyst", env={"CDP_TRINO_PASSWORD_FILE": "/run/secrets/trino"})
    assert from_file.password_file == "/run/secrets/trino"
    external = TrinoResource.for_deployment(
        _deployment(tmp_path, host="trino.example.com"), user="bi",
        env={"CDP_TRINO_CA_FILE": "/etc/corp-ca.pem"})
    assert (external.password_file, external.tls_ca_file, external.server_home) == (
        "", "/etc/corp-ca.pem", "")


def test_missing_password_says_where_it_was_looked_for(tmp_path, monkeypatch):
    trino = TrinoResource.for_deployment(_deployment(tmp_path), user="analyst", env={})
    with pytest.raises(TrinoResourceError, match=r"analyst\.password does not exist.*cdp trino "
                                                 "start"):
        trino.execute("SELECT 1")
    monkeypatch.delenv("CDP_TRINO_PASSWORD", raising=False)
    unset = TrinoResource(user="analyst", password_env="CDP_TRINO_PASSWORD")
    with pytest.raises(TrinoResourceError, match="CDP_TRINO_PASSWORD is empty or unset"):
        unset.execute("SELECT 1")
