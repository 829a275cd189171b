"""An Azure Blob Storage container (or prefix of one) as a FileStore.

The connection string is a secret: ``connection_string_env`` or ``connection_string_file``.
An upload commits the blob in one step (Put Blob, or Put Block List for large files), so
readers see either the old or the new content, never a partial one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, Literal

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

    def location(self, path: str) -> str:
        return f"azure_blob://{self.container}/{join_key(self.prefix, path)}"


class AzureBlobStore:
    def __init__(
        self,
        container: str,
        connection_string: Secret,
        prefix: str = "",
        create_container: bool = False,
    ) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        self.container = container
        self.prefix = prefix.strip("/")
        self._service = BlobServiceClient.from_connection_string(connection_string.reveal())
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
            connection_string=resolve_secret(options, "connection_string", where=where),
            prefix=options.prefix,
            create_container=options.create_container,
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
