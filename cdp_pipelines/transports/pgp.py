"""OpenPGP encryption for deliveries and decryption for pulled files, with the ``gpg`` binary.

Every call works in a fresh temporary GNUPGHOME holding only the configured keys, and
stops that home's gpg-agent afterwards, so nothing is left in the user's keyring.
Config: ``public_key_file`` (armored public key(s) of the recipient(s), needed to encrypt),
``private_key_env``/``private_key_file`` and ``passphrase_env``/``passphrase_file``
(needed to decrypt), ``armor`` (ASCII output, default False).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cdp_pipelines.transports.base import TransportConfigError, TransportError
from cdp_pipelines.transports.credentials import Secret, resolve_secret
from cdp_pipelines.transports.options import OptionsModel


class PgpOptions(OptionsModel):
    public_key_file: str | None = None
    private_key_env: str | None = None
    private_key_file: str | None = None
    passphrase_env: str | None = None
    passphrase_file: str | None = None
    armor: bool = False
    gpg_binary: str = "gpg"


class PgpError(TransportError):
    """gpg failed; the message carries gpg's own explanation."""


class Pgp:
    def __init__(
        self,
        public_key: str | None = None,
        private_key: Secret | None = None,
        passphrase: Secret | None = None,
        armor: bool = False,
        gpg_binary: str = "gpg",
    ) -> None:
        self._public_key = public_key
        self._private_key = private_key
        self._passphrase = passphrase
        self.armor = armor
        self.gpg_binary = shutil.which(gpg_binary) or gpg_binary

    @classmethod
    def from_options(cls, options: PgpOptions) -> Pgp:
        where = "pgp"
        public_key = None
        if options.public_key_file:
            path = Path(options.public_key_file).expanduser()
            if not path.is_file():
                raise TransportConfigError(f"{where}: public_key_file {path} does not exist")
            public_key = path.read_text()
        return cls(
            public_key=public_key,
            private_key=resolve_secret(options, "private_key", where=where, required=False),
            passphrase=resolve_secret(options, "passphrase", where=where, required=False),
            armor=options.armor,
            gpg_binary=options.gpg_binary,
        )

    def __repr__(self) -> str:
        return (
            f"Pgp(public_key={'yes' if self._public_key else 'no'}, "
            f"private_key={self._private_key!r}, armor={self.armor})"
        )

    def _run(self, home: Path, args: list[str], data: bytes | None, what: str) -> bytes:
        if shutil.which(self.gpg_binary) is None:
            raise PgpError(f"pgp: {self.gpg_binary} not found; install gnupg")
        result = subprocess.run(
            [self.gpg_binary, "--homedir", str(home), "--batch", "--yes", "--no-tty", *args],
            input=data,
            capture_output=True,
        )
        if result.returncode != 0:
            reason = result.stderr.decode(errors="replace").strip()[-1500:]
            raise PgpError(f"pgp: {what} failed (gpg exit {result.returncode}): {reason}")
        return result.stdout

    @contextmanager
    def _home(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="cdp-gpg-") as name:
            home = Path(name)
            home.chmod(0o700)
            try:
                yield home
            finally:
                # gpg starts an agent per home; stop it so no process outlives the call.
                subprocess.run(
                    ["gpgconf", "--homedir", str(home), "--kill", "all"],
                    capture_output=True,
                    check=False,
                )

    def _recipients(self, home: Path) -> list[str]:
        if not self._public_key:
            raise TransportConfigError("pgp: encrypting needs public_key_file")
        self._run(home, ["--import"], self._public_key.encode(), "importing the public key")
        fingerprints = self._fingerprints(home, "--list-keys", "pub:")
        if not fingerprints:
            raise PgpError("pgp: public_key_file holds no public key")
        return fingerprints

    def _fingerprints(self, home: Path, listing_arg: str, kind: str) -> list[str]:
        listing = self._run(home, ["--with-colons", listing_arg], None, "listing keys")
        lines = listing.decode().splitlines()
        return [
            lines[i + 1].split(":")[9]
            for i, line in enumerate(lines[:-1])
            if line.startswith(kind) and lines[i + 1].startswith("fpr:")
        ]

    def _passphrase_args(self, home: Path) -> list[str]:
        if self._passphrase is None:
            return []
        path = home / "passphrase"
        path.touch(mode=0o600)
        path.write_text(self._passphrase.reveal())
        return ["--pinentry-mode", "loopback", "--passphrase-file", str(path)]

    def _import_private(self, home: Path) -> list[str]:
        if self._private_key is None:
            raise TransportConfigError("pgp: decrypting needs private_key_env or private_key_file")
        passphrase_args = self._passphrase_args(home)
        self._run(
            home,
            [*passphrase_args, "--import"],
            self._private_key.reveal().encode(),
            f"importing the private key from {self._private_key.source}",
        )
        return passphrase_args

    def encrypt(self, data: bytes) -> bytes:
        with self._home() as home:
            recipients = [arg for fpr in self._recipients(home) for arg in ("--recipient", fpr)]
            armor = ["--armor"] if self.armor else []
            # The keys were given explicitly in config: that is the trust decision.
            return self._run(
                home,
                ["--trust-model", "always", *armor, *recipients, "--encrypt"],
                data,
                "encrypting",
            )

    def decrypt(self, data: bytes) -> bytes:
        with self._home() as home:
            passphrase_args = self._import_private(home)
            return self._run(home, [*passphrase_args, "--decrypt"], data, "decrypting")

    @staticmethod
    @contextmanager
    def _replacing(target: str | Path) -> Iterator[Path]:
        """Yield a temporary output path that replaces ``target`` only on success."""
        target = Path(target)
        partial = target.with_name(f".{target.name}.partial")
        try:
            yield partial
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def encrypt_file(self, source: str | Path, target: str | Path) -> None:
        """Encrypt a file without loading it into memory."""
        with self._home() as home, self._replacing(target) as output:
            recipients = [arg for fpr in self._recipients(home) for arg in ("--recipient", fpr)]
            armor = ["--armor"] if self.armor else []
            self._run(
                home,
                [
                    "--trust-model",
                    "always",
                    *armor,
                    *recipients,
                    "--output",
                    str(output),
                    "--encrypt",
                    str(source),
                ],
                None,
                f"encrypting {source}",
            )

    def reencrypt_file(self, source: str | Path, target: str | Path, armor: bool) -> None:
        """Encrypt ``source`` again for the key that can decrypt it: the configured public
        key if there is one, else the public part of the configured private key (a landed
        file rewritten in place stays readable with the courier's key)."""
        with self._home() as home, self._replacing(target) as output:
            if self._public_key:
                fingerprints = self._recipients(home)
            else:
                self._import_private(home)
                fingerprints = self._fingerprints(home, "--list-secret-keys", "sec:")
                if not fingerprints:
                    raise PgpError("pgp: the private key holds no key to encrypt to")
            recipients = [arg for fpr in fingerprints for arg in ("--recipient", fpr)]
            self._run(
                home,
                ["--trust-model", "always", *(["--armor"] if armor else []), *recipients,
                 "--output", str(output), "--encrypt", str(source)],
                None,
                f"encrypting {source} again",
            )

    def decrypt_file(self, source: str | Path, target: str | Path) -> None:
        """Decrypt a file without loading it into memory."""
        with self._home() as home, self._replacing(target) as output:
            passphrase_args = self._import_private(home)
            self._run(
                home,
                [*passphrase_args, "--output", str(output), "--decrypt", str(source)],
                None,
                f"decrypting {source}",
            )
