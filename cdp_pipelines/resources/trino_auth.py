"""Who may talk to the embedded Trino server: generated passwords, the TLS certificate,
and a client session that checks that certificate.

Trino's password file authentication works only over HTTPS and with a shared secret for
the server's internal communication. On first start this module creates, under the
server home::

    secrets/                    mode 0700, every file 0600
        admin.password          one generated password per user (what clients send)
        analyst.password
        restricted.password
        password.db             Trino's password file: user:bcrypt hash
        shared-secret           internal-communication.shared-secret
        server.pem              the server's private key, certificate and its CA
    tls/ca.pem                  the CA certificate clients trust (not secret)

The certificate names 127.0.0.1 and localhost (the server listens on loopback only) and
is signed by a CA made for this server home alone; the CA's private key is thrown away
after signing, so nothing else can ever be signed by the CA that clients trust.
Existing files are kept. At every start a missing password is generated and the
password file is rebuilt from every ``secrets/<user>.password``: deleting one and
restarting rotates that password, and writing one for a new name adds a user (who can
then log in but do nothing until the access rules name them).
"""

from __future__ import annotations

import os
import re
import secrets as _random
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address
from pathlib import Path

USERS = ("admin", "analyst", "restricted")
SECRETS_DIR = "secrets"
CA_FILE = Path("tls") / "ca.pem"
CERT_DAYS = 825
# A certificate closer than this to its end is replaced at the next start.
RENEW_BEFORE = timedelta(days=30)
# Trino accepts bcrypt hashes with the $2y$ prefix and a cost of at least 8.
BCRYPT_COST = 10
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")


def secrets_dir(home: Path) -> Path:
    return Path(home).resolve() / SECRETS_DIR


def password_file(home: Path, user: str) -> Path:
    """Where the generated password of ``user`` is kept."""
    if not _USER.match(user):
        raise ValueError(f"Trino user name {user!r} is not a plain name.")
    return secrets_dir(home) / f"{user}.password"


def ca_file(home: Path) -> Path:
    """The PEM certificate a client trusts to reach the server of ``home`` over TLS."""
    return Path(home).resolve() / CA_FILE


def password_db(home: Path) -> Path:
    return secrets_dir(home) / "password.db"


def keystore(home: Path) -> Path:
    return secrets_dir(home) / "server.pem"


def shared_secret(home: Path) -> str:
    return (secrets_dir(home) / "shared-secret").read_text().strip()


def _write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` readable by its owner only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def ensure_secrets(home: Path, users: tuple[str, ...] = USERS) -> None:
    """Create whatever is missing of the server's passwords, password file and TLS files."""
    folder = secrets_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for user in users:
        path = password_file(home, user)
        if not path.exists():
            _write_private(path, _random.token_urlsafe(24) + "\n")
    _write_password_db(home)
    secret = folder / "shared-secret"
    if not secret.exists():
        _write_private(secret, _random.token_urlsafe(48) + "\n")
    if _certificate_needed(home):
        _write_certificate(home)


def _write_password_db(home: Path) -> None:
    import bcrypt

    lines = []
    for path in sorted(secrets_dir(home).glob("*.password")):
        user = path.name.removesuffix(".password")
        if not _USER.match(user):
            continue
        password = path.read_text().strip().encode()
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(BCRYPT_COST)).decode()
        # Python's bcrypt writes $2b$, Trino wants $2y$: the same algorithm and hash.
        lines.append(f"{user}:$2y${hashed[4:]}\n")
    _write_private(password_db(home), "".join(lines))


def _certificate_needed(home: Path) -> bool:
    if not (keystore(home).exists() and ca_file(home).exists()):
        return True
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(ca_file(home).read_bytes())
    return cert.not_valid_after_utc - datetime.now(timezone.utc) < RENEW_BEFORE


def _write_certificate(home: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    until = now + timedelta(days=CERT_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cdp-pipelines"),
        x509.NameAttribute(NameOID.COMMON_NAME,
                           f"cdp-pipelines local Trino CA {Path(home).resolve().name}"),
    ])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(keystore(home), key_pem + cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    target = ca_file(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(ca_cert.public_bytes(pem))
    os.chmod(tmp, 0o644)
    tmp.replace(target)


def client_session(verify: bool | str):
    """A requests session for the ``trino`` client that checks TLS against ``verify``.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's own
    ``verify`` (psf/requests#3829), which the trino client sets; with either variable set
    (as on many machines) the server's certificate would be checked against the system CAs
    and refused. Here the session's setting wins unless a request passes its own.
    """
    import requests

    class _Session(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None:
                settings["verify"] = self.verify
            return settings

    session = _Session()
    session.verify = verify
    return session
