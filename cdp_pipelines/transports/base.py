"""The one interface every file transport implements, and the helpers they share.

Paths given to a store are POSIX-style and relative to the store's root (a directory,
a bucket + prefix, a container + prefix, a remote directory). ``list`` takes either a
prefix (``"exports/2026-"``) or a glob pattern (``"exports/*.csv"``); a pattern is
matched against the whole relative path with :func:`fnmatch.fnmatchcase`, so ``*``
also crosses ``/``.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import BinaryIO, ContextManager, Protocol, runtime_checkable

_GLOB_CHARS = "*?["


class TransportError(RuntimeError):
    """A transport operation failed; the message names the store and the path."""


class TransportConfigError(ValueError):
    """A transport's configuration is wrong; the message names the field."""


class RemoteFileNotFound(TransportError, FileNotFoundError):
    """The path does not exist in the store."""


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    modified: datetime


@runtime_checkable
class FileStore(Protocol):
    """A place files are pulled from or delivered to."""

    def list(self, pattern_or_prefix: str = "") -> list[RemoteFile]: ...

    def read_bytes(self, path: str) -> bytes: ...

    def open_read(self, path: str) -> ContextManager[BinaryIO]: ...

    def write_bytes(self, path: str, data: bytes) -> None: ...

    def upload_file(self, local_path: str | Path, remote_path: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def delete(self, path: str) -> None:
        """Remove the file; a path that is already gone is not an error (retries)."""

    def close(self) -> None: ...


def clean_path(path: str) -> str:
    """Normalise a store-relative path; refuse ones that climb out of the root."""
    normal = posixpath.normpath("/" + path.replace("\\", "/")).lstrip("/")
    if normal in ("", "."):
        raise TransportConfigError(f"path {path!r} is empty; give a file path inside the store")
    if ".." in path.replace("\\", "/").split("/"):
        raise TransportConfigError(f"path {path!r} climbs out of the store root with '..'")
    return normal


def require_local_file(store: object, local_path: str | Path) -> Path:
    """The upload source as a Path; a missing one fails before anything remote changes."""
    path = Path(local_path)
    if not path.is_file():
        raise TransportError(f"{store!r}: cannot upload {path}: no such local file")
    return path


def split_pattern(pattern_or_prefix: str) -> tuple[str, str | None]:
    """Return (listing prefix, glob pattern or None) for ``list``."""
    text = pattern_or_prefix.replace("\\", "/").lstrip("/")
    if ".." in text.split("/"):
        raise TransportConfigError(f"listing {pattern_or_prefix!r} climbs out of the store root")
    first_glob = min((i for i, ch in enumerate(text) if ch in _GLOB_CHARS), default=None)
    if first_glob is None:
        return text, None
    return text[:first_glob], text


def select(files: Iterable[RemoteFile], prefix: str, pattern: str | None) -> list[RemoteFile]:
    """Keep the files under ``prefix`` that match ``pattern``, sorted by path."""
    kept = [
        f
        for f in files
        if f.path.startswith(prefix) and (pattern is None or fnmatchcase(f.path, pattern))
    ]
    return sorted(kept, key=lambda f: f.path)


def join_key(prefix: str, path: str) -> str:
    """Join a store's key prefix (may be empty) and a relative path."""
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


class ChunkReader(io.RawIOBase):
    """A read-only binary stream over an iterator of byte chunks (SDK download bodies)."""

    def __init__(self, chunks: Iterator[bytes], on_close=None) -> None:
        self._chunks = chunks
        self._pending = b""
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()
