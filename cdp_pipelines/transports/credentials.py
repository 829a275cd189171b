"""Secrets for transports: named in config, read from an env var or a file, never shown.

A config names where a secret lives, never the secret itself::

    password_env: SFTP_PASSWORD       # read os.environ["SFTP_PASSWORD"]
    password_file: /run/secrets/sftp  # read the file (trailing newline dropped)

A plain ``password:`` key is refused (by :class:`~cdp_pipelines.transports.options.OptionsModel`)
so that secrets do not end up in tenant files.
"""

from __future__ import annotations

import os
from pathlib import Path

from cdp_pipelines.transports.base import TransportConfigError

# Every secret-bearing option any transport takes; each is given as <key>_env or <key>_file.
SECRET_OPTIONS = (
    "password", "token", "private_key", "private_key_passphrase", "passphrase",
    "connection_string", "access_key_id", "secret_access_key", "session_token", "url",
)


class MissingSecretError(TransportConfigError):
    """A secret named by the config is not available; the message says which and where."""


class Secret:
    """A secret value whose repr/str never reveals it; call :meth:`reveal` to use it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r}, value='***')"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError(f"refusing to pickle the secret from {self.source}")


def resolve_secret(
    options: object, key: str, *, where: str, required: bool = True
) -> Secret | None:
    """Read secret ``key`` as named by the ``<key>_env`` or ``<key>_file`` option."""
    env_name = getattr(options, f"{key}_env")
    file_name = getattr(options, f"{key}_file")
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise MissingSecretError(
                f"{where}: environment variable {env_name} (named by '{key}_env') is not set "
                f"or is empty; export it before running"
            )
        return Secret(value, f"env:{env_name}")
    if file_name:
        path = Path(file_name).expanduser()
        if not path.is_file():
            raise MissingSecretError(
                f"{where}: secret file {path} (named by '{key}_file') does not exist"
            )
        value = path.read_text().rstrip("\r\n")
        if not value:
            raise MissingSecretError(
                f"{where}: secret file {path} (named by '{key}_file') is empty"
            )
        return Secret(value, f"file:{path}")
    if required:
        raise MissingSecretError(
            f"{where}: no '{key}' configured; set '{key}_env' (an environment variable name) "
            f"or '{key}_file' (a file path)"
        )
    return None
