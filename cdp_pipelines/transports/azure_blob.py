"""An Azure Blob Storage container (or prefix of one) as a FileStore.

The account is named by a connection string, a secret (``connection_string_env`` or
``connection_string_file``), or by ``account_url`` (``https://<account>.blob.core.windows.net``,
or an emulator's ``http://host:port/<account>``) with the account key as a secret
(``account_key_env``/``account_key_file``) or, without one, Azure's default credential chain
(managed identity, workload identity, ``az login``).
An upload commits the blob in one step (Put Blob, or Put Block List for large files), so
readers see either the old or the new content, never a partial one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import model_validator

from cdp_pipelines.transports.base import (
    ChunkReader,
    RemoteFile,
    RemoteFileNotFound,
    TransportError,
    clean_path,
    join_key,
    require_local_file,
    select,
    split_pattern,
)
from cdp_pipelines.transports.credentials import Secret, resolve_secret
from cdp_pipelines.transports.options import FileStoreOptions, NonEmptyStr


class AzureBlobOptions(FileStoreOptions):
    type: Literal["azure_blob"] = "azure_blob"
    container: NonEmptyStr
    prefix: str = ""
    create_container: bool = False
    connection_string_env: str | None = None
    connection_string_file: str | None = None
    account_url: str | None = None
    account_key_env: str | None = None
    account_key_file: str | None = None

    @model_validator(mode="after")
    def _one_account(self) -> "AzureBlobOptions":
        named = bool(self.connection_string_env or self.connection_string_file)
        if named == bool(self.account_url):
            raise ValueError("name the account once: connection_string_env/_file, or "
                             "account_url (with account_key_env/_file, or none for Azure's "
                             "default credential)")
        if named and (self.account_key_env or self.account_key_file):
            raise ValueError("account_key_env/_file go with account_url, not with a "
                             "connection string (which holds the key)")
        return self

    def location(self, path: str) -> str:
        return f"azure_blob://{self.container}/{join_key(self.prefix, path)}"


class AzureBlobStore:
    def __init__(
        self,
        container: str,
        connection_string: Secret | None = None,
        prefix: str = "",
        create_container: bool = False,
        account_url: str | None = None,
        account_key: Secret | None = None,
    ) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        self.container = container
        self.prefix = prefix.strip("/")
        if connection_string is not None:
            self._service = BlobServiceClient.from_connection_string(
                connection_string.reveal())
        else:
            self._service = BlobServiceClient(account_url, credential=_credential(
                account_url, account_key))
        self.account = self._service.account_name
        self._container = self._service.get_container_client(container)
        if create_container:
            try:
                self._container.create_container()
            except ResourceExistsError:
                pass

    @classmethod
    def from_options(cls, options: AzureBlobOptions) -> AzureBlobStore:
        where = f"azure_blob store (container {options.container!r})"
        return cls(
            container=options.container,
            connection_string=resolve_secret(options, "connection_string", where=where,
                                             required=not options.account_url),
            prefix=options.prefix,
            create_container=options.create_container,
            account_url=options.account_url,
            account_key=resolve_secret(options, "account_key", where=where, required=False),
        )

    def __repr__(self) -> str:
        return (
            f"AzureBlobStore(account={self.account!r}, container={self.container!r}, "
            f"prefix={self.prefix!r})"
        )

    def _name(self, path: str) -> str:
        return join_key(self.prefix, clean_path(path))

    def _fail(self, action: str, path: str, exc: Exception) -> TransportError:
        from azure.core.exceptions import ResourceNotFoundError

        if isinstance(exc, ResourceNotFoundError):
            return RemoteFileNotFound(f"{self!r}: {path} does not exist ({exc.reason})")
        return TransportError(f"{self!r}: {action} {path} failed: {exc}")

    def list(self, pattern_or_prefix: str = "") -> list[RemoteFile]:
        prefix, pattern = split_pattern(pattern_or_prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            found = [
                RemoteFile(path=blob.name[strip:], size=blob.size, modified=blob.last_modified)
                for blob in self._container.list_blobs(
                    name_starts_with=join_key(self.prefix, prefix) or None
                )
            ]
        except Exception as exc:
            raise self._fail("listing", pattern_or_prefix or "/", exc) from exc
        return select(found, prefix, pattern)

    def read_bytes(self, path: str) -> bytes:
        name = self._name(path)
        try:
            return self._container.download_blob(name).readall()
        except Exception as exc:
            raise self._fail("reading", path, exc) from exc

    def open_read(self, path: str) -> BinaryIO:
        name = self._name(path)
        try:
            downloader = self._container.download_blob(name)
        except Exception as exc:
            raise self._fail("reading", path, exc) from exc
        return io.BufferedReader(ChunkReader(iter(downloader.chunks())))

    def write_bytes(self, path: str, data: bytes) -> None:
        name = self._name(path)
        try:
            self._container.upload_blob(name, data, overwrite=True)
        except Exception as exc:
            raise self._fail("writing", path, exc) from exc

    def upload_file(self, local_path: str | Path, remote_path: str) -> None:
        source_path = require_local_file(self, local_path)
        name = self._name(remote_path)
        try:
            with open(source_path, "rb") as source:
                self._container.upload_blob(name, source, overwrite=True)
        except Exception as exc:
            raise self._fail(f"uploading {local_path} to", remote_path, exc) from exc

    def exists(self, path: str) -> bool:
        name = self._name(path)
        try:
            return self._container.get_blob_client(name).exists()
        except Exception as exc:
            raise self._fail("checking", path, exc) from exc

    def delete(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        name = self._name(path)
        try:
            self._container.delete_blob(name)
        except ResourceNotFoundError:
            return
        except Exception as exc:
            raise self._fail("deleting", path, exc) from exc

    def close(self) -> None:
        self._service.close()


def _credential(account_url: str, key: Secret | None):
    """The account key as a shared-key credential, else Azure's default chain."""
    if key is None:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    from urllib.parse import urlsplit

    parts = urlsplit(account_url)
    # https://<account>.blob.core.windows.net, or an emulator's http://host:port/<account>
    account = parts.path.strip("/").split("/")[0] or parts.hostname.split(".")[0]
    return {"account_name": account, "account_key": key.reveal()}
