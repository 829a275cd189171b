"""Durable landing files for events: appended, synced, rolled.

Each event source's records go to rolling JSON-lines files under
``landing/events/<source>/``. :meth:`Journal.append` returns only once its bytes are on
disk (``fdatasync``), and the collector acknowledges a request only then. Appends that
arrive while a sync is under way are written and synced together by the next one (group
commit): one sync's cost is shared by every request waiting on it, so throughput grows
with concurrency while each request still waits for its own bytes.

A file being written is ``<writer>-<n>.jsonl.open``, locked (``flock``) by its writer.
It is closed, renamed to ``<closed at, UTC>-<writer>-<n>.jsonl`` with the directory
synced, once it holds ``roll_bytes`` or is ``roll_seconds`` old; only closed files are
loaded, and their names sort in the order they were closed. A writer that
dies (a crash, SIGKILL) leaves an open file nobody locks: :func:`recover`, run when a
collector starts, cuts a torn last line (never acknowledged: a write is acknowledged only
whole and synced) and closes the file.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from cdp_pipelines.resources.lake_files import LakePath

OPEN_SUFFIX = ".jsonl.open"
CLOSED_SUFFIX = ".jsonl"
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
STAMP_LENGTH = 22
log = logging.getLogger(__name__)


def closed_files(directory: LakePath) -> list[LakePath]:
    """The closed (loadable) landing files of a source, oldest first: in a local directory
    or under a prefix of the lake on object storage."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.endswith(CLOSED_SUFFIX) and p.is_file())


def _sync_directory(directory: Path) -> None:
    """Make a create or rename in ``directory`` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def closed_at(name: str) -> datetime:
    """When a closed file was closed, from its name."""
    return datetime.strptime(name[:STAMP_LENGTH], STAMP_FORMAT).replace(tzinfo=timezone.utc)


def _closed_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime(STAMP_FORMAT)
    return path.with_name(f"{stamp}-{path.name[: -len(OPEN_SUFFIX)]}{CLOSED_SUFFIX}")


def recover(directory: Path) -> list[Path]:
    """Close the open files no live writer holds; return the files closed."""
    closed = []
    for path in sorted(directory.glob(f"*{OPEN_SUFFIX}")):
        with exclusively_locked(path, os.O_RDWR) as fd:
            if fd is None:
                continue  # closed by its writer meanwhile, or a live writer's
            whole = _whole_lines_length(fd)
            os.ftruncate(fd, whole)
            os.fsync(fd)
            try:
                if whole:
                    target = _closed_name(path)
                    os.rename(path, target)
                    closed.append(target)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
    if closed:
        _sync_directory(directory)
        log.info("recovered %d landing file(s) left open in %s", len(closed), directory)
    return closed


@contextmanager
def exclusively_locked(path: Path, flags: int = os.O_RDONLY) -> Iterator[int | None]:
    """A descriptor of ``path`` under an exclusive ``flock`` taken without waiting; None
    when the file is gone or another process holds the lock."""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _whole_lines_length(fd: int) -> int:
    """Length of the file up to and including its last newline."""
    size = os.fstat(fd).st_size
    position, chunk = size, 1 << 16
    while position > 0:
        start = max(0, position - chunk)
        data = os.pread(fd, position - start, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


class JournalClosed(OSError):
    """The collector is shutting down: the append was not written."""


class Journal:
    """The rolling landing files of one source, written by one thread."""

    def __init__(self, directory: Path, roll_bytes: int = 64 << 20,
                 roll_seconds: float = 10.0,
                 on_closed: Callable[[Path], None] | None = None):
        self.directory = Path(directory)
        # Told of each file closed (e.g. to ship it to the lake); must not block.
        self.on_closed = on_closed
        self.roll_bytes = roll_bytes
        self.roll_seconds = roll_seconds
        self._writer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._sequence = 0
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self.syncs = 0

    def start(self) -> "Journal":
        self.directory.mkdir(parents=True, exist_ok=True)
        recover(self.directory)
        self._thread = threading.Thread(target=self._run, name=f"journal-{self.directory.name}",
                                        daemon=True)
        self._thread.start()
        return self

    async def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines); returns once it is on disk."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self._stopping:
                raise JournalClosed("the collector is shutting down")
            self._pending.append((data, future, loop))
            self._cond.notify()
        await future

    def close(self) -> None:
        """Write what is pending, close the open file and stop the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    due = self._roll_due()
                    if due is not None and due <= 0:
                        break
                    self._cond.wait(due)
                batch, self._pending = self._pending, []
                stopping = self._stopping
            if batch:
                self._write(batch)
            due = self._roll_due()
            if due is not None and (stopping or self._size >= self.roll_bytes or due <= 0):
                self._roll()
            if stopping and not batch:
                return

    def _roll_due(self) -> float | None:
        """Seconds until the open file is old enough to close (None: no open file)."""
        if self._fd is None:
            return None
        return self._opened + self.roll_seconds - time.monotonic()

    def _write(self, batch: list[tuple[bytes, asyncio.Future, asyncio.AbstractEventLoop]]) -> None:
        error: BaseException | None = None
        try:
            if self._fd is None:
                self._open()
            data = memoryview(b"".join(item[0] for item in batch))
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fdatasync(self._fd)
            self._size += len(data)
            self.syncs += 1
        except OSError as exc:
            error = exc
            log.error("could not write %d append(s) to %s: %s", len(batch), self._path, exc)
            self._discard_partial_write()
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for _, future, loop in batch:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            loop.call_soon_threadsafe(_settle, futures, error)

    def _discard_partial_write(self) -> None:
        """After a failed write the file ends with bytes nobody acknowledged: cut them,
        or start a new file if even that fails."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._roll()

    def _open(self) -> None:
        self._sequence += 1
        self._path = self.directory / f"{self._writer}-{self._sequence:06d}{OPEN_SUFFIX}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND,
                           0o640)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _sync_directory(self.directory)
        self._size = 0
        self._opened = time.monotonic()

    def _roll(self) -> None:
        """Close the open file: renamed while still locked, so recovery never takes it."""
        fd, path = self._fd, self._path
        self._fd = self._path = None
        try:
            closed = _closed_name(path) if self._size else None
            if closed is not None:
                os.rename(path, closed)
            else:
                path.unlink()
            _sync_directory(self.directory)
            if closed is not None and self.on_closed is not None:
                self.on_closed(closed)
        except OSError as exc:
            # It stays open on disk; the next collector start recovers it.
            log.error("could not close landing file %s: %s", path, exc)
        finally:
            os.close(fd)


def _settle(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue  # the request was cancelled (client gone)
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
