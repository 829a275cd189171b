"""A directory on an SFTP server as a FileStore, via paramiko.

Authentication: ``password_env``/``password_file`` and/or ``private_key_env``/
``private_key_file`` (PEM or OpenSSH text; ``private_key_passphrase_env``/``_file`` if the
key is encrypted). Host keys: ``host_key_policy`` is ``reject`` (default: the server's key
must be in ``known_hosts_file`` or the user's known_hosts), ``warn`` or ``auto_add``.
Writes go to a hidden temporary name and are renamed into place with the OpenSSH
``posix-rename`` extension, so a reader never sees a half-written file.
"""

from __future__ import annotations

import errno
import io
import posixpath
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import model_validator

from cdp_pipelines.transports.base import (
    RemoteFile,
    RemoteFileNotFound,
    TransportConfigError,
    TransportError,
    clean_path,
    require_local_file,
    select,
    split_pattern,
)
from cdp_pipelines.transports.credentials import Secret, resolve_secret
from cdp_pipelines.transports.local import TEMP_PREFIX
from cdp_pipelines.transports.options import FileStoreOptions, NonEmptyStr

HostKeyPolicy = Literal["reject", "warn", "auto_add"]


class SftpOptions(FileStoreOptions):
    type: Literal["sftp"] = "sftp"
    host: NonEmptyStr
    username: NonEmptyStr
    port: int = 22
    root: str = "."
    host_key_policy: HostKeyPolicy = "reject"
    known_hosts_file: str | None = None
    timeout_seconds: float = 30
    password_env: str | None = None
    password_file: str | None = None
    private_key_env: str | None = None
    private_key_file: str | None = None
    private_key_passphrase_env: str | None = None
    private_key_passphrase_file: str | None = None

    @model_validator(mode="after")
    def _password_or_key(self) -> SftpOptions:
        if not any(
            (self.password_env, self.password_file, self.private_key_env, self.private_key_file)
        ):
            raise ValueError("configure password_(env|file) or private_key_(env|file)")
        return self

    def location(self, path: str) -> str:
        root = self.root.rstrip("/")
        where = f"{self.username}@{self.host}:{self.port}"
        return f"sftp://{where}/{root.lstrip('/')}/{path}".replace(f"{where}//", f"{where}/")


def _load_private_key(text: str, passphrase: Secret | None, source: str):
    import paramiko

    password = passphrase.reveal() if passphrase else None
    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=password)
        except paramiko.PasswordRequiredException as exc:
            raise TransportConfigError(
                f"sftp: private key from {source} is encrypted; set "
                "private_key_passphrase_env or private_key_passphrase_file"
            ) from exc
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{key_class.__name__}: {exc}")
    raise TransportConfigError(
        f"sftp: private key from {source} is not a readable Ed25519, ECDSA or RSA key "
        f"({'; '.join(errors)})"
    )


class SftpStore:
    def __init__(
        self,
        host: str,
        username: str,
        port: int = 22,
        root: str = ".",
        password: Secret | None = None,
        private_key: Secret | None = None,
        private_key_passphrase: Secret | None = None,
        host_key_policy: HostKeyPolicy = "reject",
        known_hosts_file: str | None = None,
        timeout_seconds: float = 30,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.root = root.rstrip("/") or "/"
        self.host_key_policy = host_key_policy
        self.known_hosts_file = known_hosts_file
        self.timeout_seconds = timeout_seconds
        self._password = password
        self._pkey = (
            _load_private_key(private_key.reveal(), private_key_passphrase, private_key.source)
            if private_key is not None
            else None
        )
        self._ssh = None
        self._client = None

    @classmethod
    def from_options(cls, options: SftpOptions) -> SftpStore:
        where = f"sftp store ({options.username}@{options.host})"
        secrets = {
            key: resolve_secret(options, key, where=where, required=False)
            for key in ("password", "private_key", "private_key_passphrase")
        }
        return cls(
            host=options.host,
            username=options.username,
            port=options.port,
            root=options.root,
            host_key_policy=options.host_key_policy,
            known_hosts_file=options.known_hosts_file,
            timeout_seconds=options.timeout_seconds,
            **secrets,
        )

    def __repr__(self) -> str:
        return f"SftpStore({self.username}@{self.host}:{self.port}, root={self.root!r})"

    def _sftp(self):
        if self._client is not None:
            return self._client
        import paramiko

        ssh = paramiko.SSHClient()
        if self.known_hosts_file:
            ssh.load_host_keys(str(Path(self.known_hosts_file).expanduser()))
        else:
            ssh.load_system_host_keys()
        ssh.set_missing_host_key_policy(
            {
                "reject": paramiko.RejectPolicy,
                "warn": paramiko.WarningPolicy,
                "auto_add": paramiko.AutoAddPolicy,
            }[self.host_key_policy]()
        )
        try:
            ssh.connect(
                self.host,
                port=self.port,
                username=self.username,
                password=self._password.reveal() if self._password else None,
                pkey=self._pkey,
                look_for_keys=False,
                allow_agent=False,
                timeout=self.timeout_seconds,
                banner_timeout=self.timeout_seconds,
                auth_timeout=self.timeout_seconds,
            )
        except paramiko.BadHostKeyException as exc:
            ssh.close()
            raise TransportError(
                f"{self!r}: the server's host key does not match the known one; "
                "someone may be intercepting the connection, or the server was rebuilt"
            ) from exc
        except paramiko.AuthenticationException as exc:
            ssh.close()
            raise TransportError(f"{self!r}: authentication failed: {exc}") from exc
        except paramiko.SSHException as exc:
            ssh.close()
            hint = (
                "; add its key to known_hosts_file or choose host_key_policy"
                if "known_hosts" in str(exc)
                else ""
            )
            raise TransportError(f"{self!r}: SSH connection failed: {exc}{hint}") from exc
        except OSError as exc:
            ssh.close()
            raise TransportError(f"{self!r}: cannot connect: {exc}") from exc
        self._ssh = ssh
        self._client = ssh.open_sftp()
        return self._client

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, clean_path(path))

    def _fail(self, action: str, path: str, exc: Exception) -> TransportError:
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
            return RemoteFileNotFound(f"{self!r}: {path} does not exist")
        return TransportError(f"{self!r}: {action} {path} failed: {exc}")

    def _walk(self, sftp, directory: str, relative: str, out: list[RemoteFile]) -> None:
        try:
            entries = sftp.listdir_attr(directory)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT or isinstance(exc, FileNotFoundError):
                return
            raise
        for entry in entries:
            rel = f"{relative}/{entry.filename}" if relative else entry.filename
            if stat.S_ISDIR(entry.st_mode or 0):
                self._walk(sftp, posixpath.join(directory, entry.filename), rel, out)
            elif not entry.filename.startswith(TEMP_PREFIX):
                out.append(
                    RemoteFile(
                        path=rel,
                        size=entry.st_size or 0,
                        modified=datetime.fromtimestamp(entry.st_mtime or 0, tz=timezone.utc),
                    )
                )

    def list(self, pattern_or_prefix: str = "") -> list[RemoteFile]:
        prefix, pattern = split_pattern(pattern_or_prefix)
        # Walk only the deepest directory the prefix fully names.
        start = posixpath.dirname(prefix)
        found: list[RemoteFile] = []
        try:
            self._walk(
                self._sftp(), posixpath.join(self.root, start) if start else self.root, start, found
            )
        except TransportError:
            raise
        except Exception as exc:
            raise self._fail("listing", pattern_or_prefix or "/", exc) from exc
        return select(found, prefix, pattern)

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as handle:
            return handle.read()

    def open_read(self, path: str) -> BinaryIO:
        remote = self._remote(path)
        sftp = self._sftp()
        try:
            handle = sftp.open(remote, "rb")
        except Exception as exc:
            raise self._fail("reading", path, exc) from exc
        handle.prefetch()
        return handle

    def _makedirs(self, sftp, directory: str) -> None:
        if directory in ("", ".", "/"):
            return
        try:
            sftp.stat(directory)
            return
        except OSError:
            pass
        self._makedirs(sftp, posixpath.dirname(directory))
        try:
            sftp.mkdir(directory)
        except OSError:
            # Another writer may have created it meanwhile; fail only if it is still missing.
            sftp.stat(directory)

    def _atomic_put(self, remote_path: str, put) -> None:
        sftp = self._sftp()
        target = self._remote(remote_path)
        directory, name = posixpath.split(target)
        temp = posixpath.join(directory, f"{TEMP_PREFIX}{name}.{uuid.uuid4().hex[:12]}")
        try:
            self._makedirs(sftp, directory)
            put(sftp, temp)
            sftp.posix_rename(temp, target)
        except Exception as exc:
            try:
                sftp.remove(temp)
            except OSError:
                pass
            raise self._fail("writing", remote_path, exc) from exc

    def write_bytes(self, path: str, data: bytes) -> None:
        def put(sftp, temp: str) -> None:
            with sftp.open(temp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)

        self._atomic_put(path, put)

    def upload_file(self, local_path: str | Path, remote_path: str) -> None:
        source = require_local_file(self, local_path)
        self._atomic_put(remote_path, lambda sftp, temp: sftp.put(str(source), temp))

    def exists(self, path: str) -> bool:
        remote = self._remote(path)
        try:
            return stat.S_ISREG(self._sftp().stat(remote).st_mode or 0)
        except TransportError:
            raise
        except OSError as exc:
            if isinstance(self._fail("checking", path, exc), RemoteFileNotFound):
                return False
            raise self._fail("checking", path, exc) from exc

    def delete(self, path: str) -> None:
        remote = self._remote(path)
        try:
            self._sftp().remove(remote)
        except TransportError:
            raise
        except OSError as exc:
            error = self._fail("deleting", path, exc)
            if not isinstance(error, RemoteFileNotFound):
                raise error from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._ssh is not None:
            self._ssh.close()
        self._client = None
        self._ssh = None
