"""The lake's files, local or on an object store, for every layer's Python side.

:func:`lake_path` turns a lake location into something path-like: a :class:`pathlib.Path`
for a local lake (so a local lake behaves exactly as it always has) or an
:class:`ObjectPath` for ``s3a://bucket/prefix`` (also ``s3://``) and Azure's
``abfss://container@account.dfs.core.windows.net/...`` / ``wasbs://...``. An ObjectPath
offers the part of pathlib the layers use (``/``, ``name``, ``exists``, ``open``,
``read_text``, ``write_bytes``, ``rglob``, ``replace``, ...) on pyarrow's file systems.
Delta tables are Spark's: :mod:`cdp_pipelines.resources.lake_storage` gives Spark the
same stores' settings.

Where a store is and who may use it comes from the environment, never from code:
``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``), ``AWS_REGION`` (else
``AWS_DEFAULT_REGION``), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN`` or the AWS SDK's own chain (profiles named by ``AWS_PROFILE`` and
``AWS_SHARED_CREDENTIALS_FILE``, instance roles); for Azure ``AZURE_STORAGE_KEY`` (else the
SDK's default credential) and ``CDP_AZURE_BLOB_ENDPOINT`` for an emulator.
"""

from __future__ import annotations

import fnmatch
import io
import os
import posixpath
import secrets
import shutil
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyarrow import fs as pafs

S3_SCHEMES = ("s3a", "s3", "s3n")
AZURE_SCHEMES = ("abfss", "abfs", "wasbs", "wasb")


class LakeStoreError(RuntimeError):
    """A lake location names a store this project cannot reach, or a setting is wrong."""


def scheme_of(location: str | os.PathLike) -> str:
    """``s3a``, ``abfss``, ... of a URI; ``file`` for a local path."""
    text = str(location)
    return text.split("://", 1)[0].lower() if "://" in text else "file"


def is_object_store(location: str | os.PathLike) -> bool:
    return scheme_of(location) != "file"


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and how to sign for it, from the standard AWS variables. The secret
    values stay in the environment: :meth:`credentials` reads them when a client is made."""

    endpoint: str | None
    region: str
    path_style: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if env is None else env
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        # An S3-compatible server (MinIO, moto) wants bucket/key paths; AWS itself the
        # virtual-host form. CDP_S3_PATH_STYLE overrides.
        style = env.get("CDP_S3_PATH_STYLE")
        path_style = (style.lower() in ("1", "true", "yes")) if style else endpoint is not None
        return cls(endpoint=endpoint, region=region, path_style=path_style)

    @staticmethod
    def credentials(env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Keys named in the environment, else nothing (the SDK's own chain decides)."""
        env = os.environ if env is None else env
        if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
            return {}
        out = {"access_key": env["AWS_ACCESS_KEY_ID"],
               "secret_key": env["AWS_SECRET_ACCESS_KEY"]}
        if env.get("AWS_SESSION_TOKEN"):
            out["session_token"] = env["AWS_SESSION_TOKEN"]
        return out


@dataclass(frozen=True)
class _Location:
    scheme: str
    # S3: the bucket; Azure: the container.
    bucket: str
    # Azure: the storage account (``account`` of ``container@account.dfs.core...``).
    account: str | None
    key: str

    @property
    def family(self) -> str:
        return "s3" if self.scheme in S3_SCHEMES else "azure"


def _parse(uri: str) -> _Location:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in S3_SCHEMES + AZURE_SCHEMES:
        raise LakeStoreError(f"{uri}: unsupported lake store {scheme!r}; use a local path, "
                             f"s3a://bucket/prefix or abfss://container@account.dfs.core."
                             f"windows.net/prefix")
    key = posixpath.normpath("/" + parts.path).lstrip("/") if parts.path.strip("/") else ""
    if scheme in S3_SCHEMES:
        if not parts.netloc:
            raise LakeStoreError(f"{uri}: no bucket")
        return _Location(scheme, parts.netloc, None, key)
    container, at, host = parts.netloc.partition("@")
    if not at or not container or not host:
        raise LakeStoreError(f"{uri}: expected {scheme}://container@account.<host>/path")
    return _Location(scheme, container, host.split(".", 1)[0], key)


_filesystems: dict[tuple, "pafs.FileSystem"] = {}
_fs_lock = threading.Lock()


def _s3_filesystem() -> "pafs.FileSystem":
    from pyarrow import fs as pafs

    settings = S3Settings.from_env()
    credentials = S3Settings.credentials()
    # The cache key holds the settings and a digest of the keys, never the keys themselves.
    cache = ("s3", settings, hash(tuple(sorted(credentials.items()))))
    with _fs_lock:
        if cache not in _filesystems:
            kwargs: dict[str, Any] = {"region": settings.region,
                                      "force_virtual_addressing": not settings.path_style,
                                      "allow_bucket_creation": False,
                                      "allow_bucket_deletion": False, **credentials}
            if settings.endpoint:
                endpoint = urlsplit(settings.endpoint)
                kwargs["endpoint_override"] = endpoint.netloc or settings.endpoint
                kwargs["scheme"] = endpoint.scheme or "https"
            _filesystems[cache] = pafs.S3FileSystem(**kwargs)
        return _filesystems[cache]


def _azure_filesystem(account: str) -> "pafs.FileSystem":
    from pyarrow import fs as pafs

    endpoint = os.environ.get("CDP_AZURE_BLOB_ENDPOINT")
    key = os.environ.get("AZURE_STORAGE_KEY")
    cache = ("azure", account, endpoint, hash(key))
    with _fs_lock:
        if cache not in _filesystems:
            kwargs: dict[str, Any] = {"account_name": account}
            if key:
                kwargs["account_key"] = key
            if endpoint:
                # An emulator (Azurite): http://127.0.0.1:PORT, account in the path.
                parts = urlsplit(endpoint)
                kwargs.update(blob_storage_authority=parts.netloc,
                              dfs_storage_authority=parts.netloc,
                              blob_storage_scheme=parts.scheme, dfs_storage_scheme=parts.scheme)
            _filesystems[cache] = pafs.AzureFileSystem(**kwargs)
        return _filesystems[cache]


def azure_blob_location(uri: str) -> tuple[str, str, str]:
    """(the Blob endpoint of the account, container, key) of an Azure lake location: the
    emulator's ``CDP_AZURE_BLOB_ENDPOINT/<account>`` when set, else
    ``https://<account>.blob.<the host's cloud suffix>`` (dfs. and blob. share the account)."""
    location = _parse(uri)
    if location.family != "azure":
        raise LakeStoreError(f"{uri}: not an Azure location")
    emulator = os.environ.get("CDP_AZURE_BLOB_ENDPOINT")
    if emulator:
        url = f"{emulator.rstrip('/')}/{location.account}"
    else:
        host = urlsplit(uri).netloc.partition("@")[2].split(".", 2)
        if len(host) < 3:  # <account>.dfs.<suffix>, e.g. core.windows.net
            raise LakeStoreError(f"{uri}: expected container@account.dfs.<cloud suffix>")
        url = f"https://{location.account}.blob.{host[2]}"
    return url, location.bucket, location.key


def _filesystem(location: _Location) -> "pafs.FileSystem":
    if location.family == "s3":
        return _s3_filesystem()
    return _azure_filesystem(location.account or "")


@dataclass(frozen=True)
class ObjectStat:
    st_size: int
    st_mtime: float


class ObjectPath:
    """A file or prefix ("directory") on an object store, with pathlib's common methods.

    Writes are whole objects: an object appears only once its upload completes, so a
    reader never sees half a file (what a temporary name and rename give on a disk).
    Appending to an object is impossible; the layers that append locally write one object
    per record or rewrite small files instead.
    """

    __slots__ = ("_uri", "_loc", "_info")

    def __init__(self, uri: str, _info: Any = None) -> None:
        self._loc = _parse(uri)
        authority = (f"{self._loc.bucket}@{urlsplit(uri).netloc.partition('@')[2]}"
                     if self._loc.account else self._loc.bucket)
        self._uri = f"{self._loc.scheme}://{authority}" + (f"/{self._loc.key}"
                                                           if self._loc.key else "")
        self._info = _info

    # -- naming ---------------------------------------------------------------------------
    def __str__(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"ObjectPath({self._uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and other._uri == self._uri

    def __lt__(self, other: "ObjectPath") -> bool:
        return self._uri < other._uri

    def __hash__(self) -> int:
        return hash(self._uri)

    def __truediv__(self, part: str | os.PathLike) -> "ObjectPath":
        part = str(part).replace("\\", "/").strip("/")
        if ".." in part.split("/"):
            raise LakeStoreError(f"{self}: path part {part!r} may not contain '..'")
        return ObjectPath(f"{self._uri}/{part}") if part else self

    def joinpath(self, *parts: str) -> "ObjectPath":
        out = self
        for part in parts:
            out = out / part
        return out

    @property
    def name(self) -> str:
        return posixpath.basename(self._loc.key)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> "ObjectPath":
        head = self._uri.rsplit("/", 1)[0] if self._loc.key else self._uri
        return ObjectPath(head)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self._loc.key.split("/") if p)

    def with_name(self, name: str) -> "ObjectPath":
        return self.parent / name

    def relative_to(self, other: "ObjectPath | str") -> PurePosixPath:
        base = str(other).rstrip("/") + "/"
        if not self._uri.startswith(base):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self._uri[len(base):])

    def as_posix(self) -> str:
        return self._uri

    def as_uri(self) -> str:
        return self._uri

    def resolve(self) -> "ObjectPath":
        return self

    def expanduser(self) -> "ObjectPath":
        return self

    # -- the store ------------------------------------------------------------------------
    @property
    def _fs(self) -> "pafs.FileSystem":
        return _filesystem(self._loc)

    @property
    def _path(self) -> str:
        return posixpath.join(self._loc.bucket, self._loc.key) if self._loc.key \
            else self._loc.bucket

    def _file_info(self, fresh: bool = False) -> Any:
        if self._info is None or fresh:
            self._info = self._fs.get_file_info(self._path)
        return self._info

    def exists(self) -> bool:
        from pyarrow import fs as pafs

        return self._file_info(fresh=True).type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        from pyarrow import fs as pafs

        return self._file_info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        from pyarrow import fs as pafs

        return self._file_info(fresh=True).type == pafs.FileType.Directory

    def stat(self) -> ObjectStat:
        from pyarrow import fs as pafs

        info = self._file_info()
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(f"{self}: no such object")
        mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
        return ObjectStat(st_size=info.size or 0, st_mtime=mtime)

    def open(self, mode: str = "rb", encoding: str | None = None, newline: str | None = None,
             **_: Any) -> Any:
        if mode not in ("r", "rb", "w", "wb", "rt", "wt"):
            raise LakeStoreError(f"{self}: mode {mode!r} is not possible on an object store "
                                 "(objects are read or written whole, never appended to)")
        if "r" in mode:
            try:
                raw = self._fs.open_input_file(self._path)
            except (FileNotFoundError, OSError) as exc:
                raise FileNotFoundError(f"{self}: {exc}") from exc
            stream: Any = raw
        else:
            self._info = None
            stream = self._fs.open_output_stream(self._path)
        if "b" in mode:
            return stream
        return io.TextIOWrapper(stream, encoding=encoding or "utf-8", newline=newline)

    def read_bytes(self) -> bytes:
        with self.open("rb") as handle:
            return handle.read()

    def read_text(self, encoding: str = "utf-8", errors: str | None = None) -> str:
        return self.read_bytes().decode(encoding, errors or "strict")

    def write_bytes(self, data: bytes) -> int:
        with self.open("wb") as handle:
            handle.write(data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8", newline: str | None = None) -> int:
        return self.write_bytes(text.encode(encoding))

    def touch(self, exist_ok: bool = True) -> None:
        if not (exist_ok and self.exists()):
            self.write_bytes(b"")

    def mkdir(self, parents: bool = False, exist_ok: bool = False, mode: int = 0o777) -> None:
        """Nothing to do: an object store has prefixes, not directories."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._fs.delete_file(self._path)
        except FileNotFoundError:
            if not missing_ok:
                raise
        self._info = None

    def replace(self, target: "ObjectPath | str") -> "ObjectPath":
        target = target if isinstance(target, ObjectPath) else ObjectPath(str(target))
        # On S3 a copy then a delete: the target appears whole, as a rename's would.
        try:
            self._fs.move(self._path, target._path)
        except NotImplementedError:
            # An Azure account without hierarchical namespace (and Azurite) has no rename:
            # the same server-side copy and delete, made here.
            self._fs.copy_file(self._path, target._path)
            self._fs.delete_file(self._path)
        self._info = None
        return target

    rename = replace

    def iterdir(self) -> Iterator["ObjectPath"]:
        yield from self._list(recursive=False)

    def rglob(self, pattern: str = "*") -> Iterator["ObjectPath"]:
        for entry in self._list(recursive=True):
            if fnmatch.fnmatchcase(entry.name, pattern):
                yield entry

    def glob(self, pattern: str) -> Iterator["ObjectPath"]:
        if "/" in pattern:
            raise LakeStoreError(f"{self}: glob {pattern!r}: only a name pattern is supported")
        for entry in self._list(recursive=False):
            if fnmatch.fnmatchcase(entry.name, pattern):
                yield entry

    def _list(self, recursive: bool) -> Iterator["ObjectPath"]:
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self._path, recursive=recursive, allow_not_found=True)
        base = self._uri.split("://", 1)[0] + "://" + urlsplit(self._uri).netloc
        for info in self._fs.get_file_info(selector):
            key = info.path.split("/", 1)[1] if "/" in info.path else ""
            yield ObjectPath(f"{base}/{key}", _info=info)


LakePath = Union[Path, ObjectPath]


def lake_path(location: "str | os.PathLike | ObjectPath") -> LakePath:
    """A local :class:`~pathlib.Path` or an :class:`ObjectPath` for a lake location."""
    if isinstance(location, (Path, ObjectPath)):
        return location
    text = str(location)
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    return ObjectPath(text) if "://" in text else Path(text)


def remove_tree(path: LakePath) -> None:
    """Delete a directory (local) or every object under a prefix, if there."""
    if isinstance(path, Path):
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in path.rglob("*"):
        if entry.is_file():
            entry.unlink(missing_ok=True)


def local_copy(path: LakePath, directory: Path) -> Path:
    """``path`` itself if local, else a download of it into ``directory``: for readers that
    need a file on this machine (archives, PGP, Spark's CSV reader of the driver)."""
    if isinstance(path, Path):
        return path
    target = directory / path.name
    directory.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as src, target.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return target


def upload(source: Path, target: LakePath) -> None:
    """Put a local file at ``target``, which appears whole (a rename locally)."""
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            tmp = target.with_name(f".{target.name}.partial")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        return
    with source.open("rb") as src, target.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def put_verified(source: Path, target: LakePath) -> None:
    """Put a local file at ``target`` only whole and complete: on an object store it is
    uploaded under a staging name no reader lists (``.<name>.partial-<random>``), its stored
    size checked against the file's, then moved (a server-side copy) to ``target``. An
    upload that fails part way (a dropped connection still completes the object it was
    writing) never appears under ``target``; the staging object is removed."""
    if isinstance(target, Path):
        upload(source, target)
        return
    staged = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    size = source.stat().st_size
    try:
        upload(source, staged)
        stored = staged.stat().st_size  # asked of the store: the write forgot its info
        if stored != size:
            raise LakeStoreError(f"{target}: the upload stored {stored} bytes of {size}")
        staged.replace(target)
    except BaseException:
        try:
            staged.unlink(missing_ok=True)
        except OSError:
            pass  # the store is gone: the staging object is left, and never listed
        raise
