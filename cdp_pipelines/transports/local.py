"""A directory on the local (or mounted) file system as a FileStore."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Literal

from cdp_pipelines.transports.base import (
    RemoteFile,
    RemoteFileNotFound,
    TransportConfigError,
    clean_path,
    require_local_file,
    select,
    split_pattern,
)
from cdp_pipelines.transports.options import FileStoreOptions, NonEmptyStr

# Files being written carry this prefix until renamed into place; listings skip them.
TEMP_PREFIX = ".cdp-tmp-"


class LocalOptions(FileStoreOptions):
    type: Literal["local"] = "local"
    root: NonEmptyStr
    # Make the directory when it is missing; else a missing one is an error.
    create: bool = True

    def location(self, path: str) -> str:
        return str(Path(self.root).expanduser() / path)


class LocalStore:
    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise TransportConfigError(f"local store: root directory {self.root} does not exist")

    @classmethod
    def from_options(cls, options: LocalOptions) -> LocalStore:
        return cls(options.root, create=options.create)

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    def _full(self, path: str) -> Path:
        return self.root / clean_path(path)

    def list(self, pattern_or_prefix: str = "") -> list[RemoteFile]:
        prefix, pattern = split_pattern(pattern_or_prefix)
        # Walk only the deepest directory the prefix fully names.
        start = self.root / posixpath.dirname(prefix)
        found = []
        for path in start.rglob("*"):
            if path.is_file() and not path.name.startswith(TEMP_PREFIX):
                stat = path.stat()
                found.append(
                    RemoteFile(
                        path=path.relative_to(self.root).as_posix(),
                        size=stat.st_size,
                        modified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
                    )
                )
        return select(found, prefix, pattern)

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as handle:
            return handle.read()

    def open_read(self, path: str) -> BinaryIO:
        full = self._full(path)
        try:
            return open(full, "rb")
        except FileNotFoundError as exc:
            raise RemoteFileNotFound(f"{self!r}: {path} does not exist") from exc

    def _atomic_write(self, path: str, fill) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=f"{TEMP_PREFIX}{full.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_bytes(self, path: str, data: bytes) -> None:
        self._atomic_write(path, lambda handle: handle.write(data))

    def upload_file(self, local_path: str | Path, remote_path: str) -> None:
        with open(require_local_file(self, local_path), "rb") as source:
            self._atomic_write(remote_path, lambda handle: shutil.copyfileobj(source, handle))

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def delete(self, path: str) -> None:
        self._full(path).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""
