"""An S3 bucket (or prefix of one) as a FileStore, via boto3.

Credentials: either named in config (``access_key_id_env`` + ``secret_access_key_env``,
or the ``_file`` forms, optional ``session_token_env``), or boto3's own chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).
``endpoint_url`` points at any S3-compatible server (MinIO, moto in tests).
Writes are single PUTs (or boto3's multipart upload for big files); either way the
object becomes visible only once complete.
"""

from __future__ import annotations

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

_SECRET_KEYS = ("access_key_id", "secret_access_key", "session_token")
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Options(FileStoreOptions):
    type: Literal["s3"] = "s3"
    bucket: NonEmptyStr
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id_env: str | None = None
    access_key_id_file: str | None = None
    secret_access_key_env: str | None = None
    secret_access_key_file: str | None = None
    session_token_env: str | None = None
    session_token_file: str | None = None

    @model_validator(mode="after")
    def _both_keys_or_neither(self) -> S3Options:
        key_id = self.access_key_id_env or self.access_key_id_file
        secret = self.secret_access_key_env or self.secret_access_key_file
        if bool(key_id) != bool(secret):
            raise ValueError(
                "configure both access_key_id_(env|file) and secret_access_key_(env|file), "
                "or neither to use boto3's default credentials"
            )
        return self

    def location(self, path: str) -> str:
        return f"s3://{self.bucket}/{join_key(self.prefix, path)}"


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: Secret | None = None,
        secret_access_key: Secret | None = None,
        session_token: Secret | None = None,
    ) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        reveal = lambda secret: secret.reveal() if secret is not None else None  # noqa: E731
        session = boto3.session.Session(
            aws_access_key_id=reveal(access_key_id),
            aws_secret_access_key=reveal(secret_access_key),
            aws_session_token=reveal(session_token),
            region_name=region,
        )
        self._client = session.client("s3", endpoint_url=endpoint_url)

    @classmethod
    def from_options(cls, options: S3Options) -> S3Store:
        where = f"s3 store (bucket {options.bucket!r})"
        return cls(
            bucket=options.bucket,
            prefix=options.prefix,
            region=options.region,
            endpoint_url=options.endpoint_url,
            **{
                key: resolve_secret(options, key, where=where, required=False)
                for key in _SECRET_KEYS
            },
        )

    def __repr__(self) -> str:
        endpoint = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}{endpoint})"

    def _key(self, path: str) -> str:
        return join_key(self.prefix, clean_path(path))

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _fail(self, action: str, path: str, exc: Exception) -> TransportError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _NOT_FOUND_CODES:
                return RemoteFileNotFound(f"{self!r}: {path} does not exist")
        return TransportError(f"{self!r}: {action} {path} failed: {exc}")

    def list(self, pattern_or_prefix: str = "") -> list[RemoteFile]:
        prefix, pattern = split_pattern(pattern_or_prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=join_key(self.prefix, prefix)
            ):
                for item in page.get("Contents", []):
                    found.append(
                        RemoteFile(
                            path=self._relative(item["Key"]),
                            size=item["Size"],
                            modified=item["LastModified"],
                        )
                    )
        except Exception as exc:
            raise self._fail("listing", pattern_or_prefix or "/", exc) from exc
        return select(found, prefix, pattern)

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as handle:
            return handle.read()

    def open_read(self, path: str) -> BinaryIO:
        import io

        key = self._key(path)
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            raise self._fail("reading", path, exc) from exc
        return io.BufferedReader(ChunkReader(body.iter_chunks(), on_close=body.close))

    def write_bytes(self, path: str, data: bytes) -> None:
        key = self._key(path)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as exc:
            raise self._fail("writing", path, exc) from exc

    def upload_file(self, local_path: str | Path, remote_path: str) -> None:
        source = require_local_file(self, local_path)
        key = self._key(remote_path)
        try:
            self._client.upload_file(str(source), self.bucket, key)
        except Exception as exc:
            raise self._fail(f"uploading {local_path} to", remote_path, exc) from exc

    def exists(self, path: str) -> bool:
        key = self._key(path)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            error = self._fail("checking", path, exc)
            if isinstance(error, RemoteFileNotFound):
                return False
            raise error from exc
        return True

    def delete(self, path: str) -> None:
        key = self._key(path)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._fail("deleting", path, exc) from exc

    def close(self) -> None:
        self._client.close()
