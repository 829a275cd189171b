"""PGP encryption and decryption with the real gpg binary and a freshly generated key."""

from __future__ import annotations

import pytest

from cdp_pipelines.transports import MissingSecretError
from cdp_pipelines.transports.pgp import Pgp, PgpError, PgpOptions

PLAINTEXT = b"customer_id,email\n1,ana@example.invalid\n2,bo@example.invalid\n" * 20


@pytest.fixture
def pgp_config(pgp_keys, monkeypatch) -> dict:
    monkeypatch.setenv("TEST_PGP_PRIVATE_KEY", pgp_keys["private"].read_text())
    return {
        "public_key_file": str(pgp_keys["public"]),
        "private_key_env": "TEST_PGP_PRIVATE_KEY",
        "passphrase_file": str(pgp_keys["passphrase_file"]),
    }


def test_round_trip(pgp_config):
    pgp = Pgp.from_options(PgpOptions(**pgp_config))
    encrypted = pgp.encrypt(PLAINTEXT)
    assert encrypted != PLAINTEXT
    assert b"ana@example.invalid" not in encrypted
    assert pgp.decrypt(encrypted) == PLAINTEXT


def test_armored_output_and_encrypting_with_the_public_key_alone(pgp_config):
    encrypt_only = Pgp.from_options(
        PgpOptions(public_key_file=pgp_config["public_key_file"], armor=True)
    )
    encrypted = encrypt_only.encrypt(PLAINTEXT)
    assert encrypted.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert Pgp.from_options(PgpOptions(**pgp_config)).decrypt(encrypted) == PLAINTEXT
    with pytest.raises(Exception, match="decrypting needs private_key_env or private_key_file"):
        encrypt_only.decrypt(encrypted)


def test_file_round_trip(pgp_config, tmp_path):
    pgp = Pgp.from_options(PgpOptions(**pgp_config))
    source = tmp_path / "audience.csv"
    source.write_bytes(PLAINTEXT)
    pgp.encrypt_file(source, tmp_path / "audience.csv.gpg")
    assert (tmp_path / "audience.csv.gpg").read_bytes() != PLAINTEXT
    pgp.decrypt_file(tmp_path / "audience.csv.gpg", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_bytes() == PLAINTEXT


def test_wrong_passphrase_fails_without_leaving_output(pgp_config, tmp_path, pgp_keys):
    encrypted = tmp_path / "x.gpg"
    Pgp.from_options(PgpOptions(**pgp_config)).encrypt_file(
        _write(tmp_path / "x", PLAINTEXT), encrypted
    )
    (tmp_path / "wrong").write_text("not the passphrase")
    wrong = Pgp.from_options(
        PgpOptions(**{**pgp_config, "passphrase_file": str(tmp_path / "wrong")})
    )
    with pytest.raises(PgpError, match="failed") as caught:
        wrong.decrypt_file(encrypted, tmp_path / "out.csv")
    assert "not the passphrase" not in str(caught.value)
    assert pgp_keys["passphrase"] not in str(caught.value)
    assert not (tmp_path / "out.csv").exists()
    assert list(tmp_path.glob(".out.csv*")) == []


def test_missing_private_key_env_names_the_variable(pgp_config, monkeypatch):
    monkeypatch.delenv("TEST_PGP_PRIVATE_KEY")
    with pytest.raises(MissingSecretError, match="TEST_PGP_PRIVATE_KEY"):
        Pgp.from_options(PgpOptions(**pgp_config))


def test_private_key_is_not_in_repr(pgp_config, pgp_keys):
    shown = repr(Pgp.from_options(PgpOptions(**pgp_config)))
    assert "PRIVATE KEY" not in shown
    assert pgp_keys["passphrase"] not in shown


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
