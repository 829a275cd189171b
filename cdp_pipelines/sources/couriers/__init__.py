"""Couriers fetch a source's raw files and land them, unchanged, under ``landing/``.

A courier is a class with ``list()`` and ``fetch()`` (and optionally ``commit()``, called
once everything listed has landed, and ``close()``). Every remote file store of
:mod:`cdp_pipelines.transports` is read by one :class:`StoreCourier`; a transport that
needs its own courier (local, REST, warehouse) has a module here and an entry in
:data:`COURIER_TYPES`.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import BinaryIO, Protocol

from cdp_pipelines.resources.lake_files import LakePath, upload
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec
from cdp_pipelines.transports import STORE_TYPES

# type -> (module, class); a module is imported only when its courier is made (SDKs).
COURIER_TYPES = {
    "local": ("cdp_pipelines.sources.couriers.local", "LocalCourier"),
    "rest": ("cdp_pipelines.sources.couriers.rest", "RestCourier"),
    "warehouse": ("cdp_pipelines.sources.couriers.warehouse", "WarehouseCourier"),
}
_STORE_COURIER = ("cdp_pipelines.sources.couriers._store", "StoreCourier")
# Couriers that watch a remote file store (file-arrival sensors poll these); a local
# courier reads its directory itself.
REMOTE_FILE_TYPES = tuple(kind for kind in STORE_TYPES if kind not in COURIER_TYPES)


@dataclass(frozen=True)
class FoundFile:
    relpath: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class LandedFile:
    relpath: str
    # In the lake: a local Path or an object store's ObjectPath.
    path: LakePath
    size: int
    sha256: str
    file_date: datetime | None
    newly_landed: bool


class Courier(Protocol):
    def list(self) -> list[FoundFile]: ...

    def fetch(self, relpath: str, dest: Path) -> None: ...


def make_courier(spec: CourierSpec, state_dir: Path | None = None) -> Courier:
    """The courier for ``spec``; ``state_dir`` holds watermarks of incremental couriers."""
    module_name, class_name = COURIER_TYPES.get(spec.type, _STORE_COURIER)
    cls = getattr(import_module(module_name), class_name)
    return cls(spec, state_dir=state_dir) if spec.type == "warehouse" else cls(spec)


def sha256_of(path: LakePath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scrubbed_marker(path: LakePath) -> LakePath:
    """Beside a landed file privacy rewrote without a deleted person: the checksum of the
    delivery as received and of the rewrite (one per line)."""
    return path.with_name(f".{path.name}.scrubbed")


def _scrubbed_copy_of(dest: LakePath, fetched_sha256: str) -> bool:
    """Is ``dest`` privacy's rewrite of the very delivery just fetched again? Then it is
    kept: landing the delivery again would bring back what privacy removed."""
    marker = scrubbed_marker(dest)
    if not marker.is_file():
        return False
    received, _, rewritten = marker.read_text().strip().partition("\n")
    return received == fetched_sha256 and rewritten == sha256_of(dest)


def _close(courier: Courier) -> None:
    close = getattr(courier, "close", None)
    if close is not None:
        close()


def _list_waiting(courier: Courier, pattern: FilePattern, wait_minutes: float,
                  poll_seconds: float, sleep: Callable[[float], None]) -> list[FoundFile]:
    """List matching files; when none is there, poll until ``wait_minutes`` have passed."""
    deadline = time.monotonic() + wait_minutes * 60
    while True:
        found = [f for f in courier.list() if pattern.match(f.relpath)]
        if found or time.monotonic() >= deadline:
            return found
        sleep(min(poll_seconds, max(deadline - time.monotonic(), 0)))


def land(spec: CourierSpec, landing_dir: LakePath, *, wait_minutes: float = 0,
         poll_seconds: float = 30.0, state_dir: Path | None = None,
         only: Callable[[FoundFile], bool] | None = None, force: bool = False,
         sleep: Callable[[float], None] = time.sleep) -> list[LandedFile]:
    """Copy every matching file not yet landed (same name and bytes) into ``landing_dir``
    (a local directory or an object store prefix, :mod:`cdp_pipelines.resources.lake_files`).

    ``wait_minutes``: poll the source that long for a file before returning none.
    ``only`` limits the files (a backfill's date range); ``force`` re-fetches them even if
    a copy of the same size is landed (a changed file is replaced, an identical one kept).
    """
    courier = make_courier(spec, state_dir=state_dir)
    pattern = FilePattern(spec.pattern)
    landed = []
    # On an object store a file is fetched to this machine first, then uploaded whole.
    staging = None if isinstance(landing_dir, Path) else Path(
        tempfile.mkdtemp(prefix=f"cdp-land-{spec.name}-"))
    try:
        found = _list_waiting(courier, pattern, wait_minutes, poll_seconds, sleep)
        if only is not None:
            found = [f for f in found if only(f)]
        for item in sorted(found, key=lambda f: (pattern.file_date(f.relpath) or datetime.min,
                                                 f.relpath)):
            dest = landing_dir / item.relpath
            fresh = force or not dest.exists() or dest.stat().st_size != item.size
            if fresh:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = (dest.with_name(f".{dest.name}.partial") if staging is None
                       else staging / f"{len(landed)}.partial")
                courier.fetch(item.relpath, tmp)
                fetched = sha256_of(tmp)
                if dest.exists() and (sha256_of(dest) == fetched
                                      or _scrubbed_copy_of(dest, fetched)):
                    tmp.unlink()
                    fresh = False
                elif staging is None:
                    # Rename last: a reader never sees a half-copied file.
                    tmp.replace(dest)
                else:
                    upload(tmp, dest)  # the object appears once complete
                    tmp.unlink()
            landed.append(LandedFile(item.relpath, dest, dest.stat().st_size, sha256_of(dest),
                                     pattern.file_date(item.relpath), fresh))
        commit = getattr(courier, "commit", None)
        if commit is not None:
            # Only now that every file is landed may an incremental courier move on.
            commit()
    finally:
        _close(courier)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return landed


def landed_files(spec: CourierSpec, landing_dir: LakePath) -> list[LandedFile]:
    """Files already in ``landing_dir`` that match the courier's pattern, oldest first."""
    pattern = FilePattern(spec.pattern)
    if not landing_dir.is_dir():
        return []
    out = []
    for path in landing_dir.rglob("*"):
        rel = path.relative_to(landing_dir).as_posix()
        if path.is_file() and not path.name.startswith(".") and pattern.match(rel):
            out.append(LandedFile(rel, path, path.stat().st_size, sha256_of(path),
                                  pattern.file_date(rel), False))
    return sorted(out, key=lambda f: (f.file_date or datetime.min, f.relpath))


def copy_file(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)


def copy_stream(source: BinaryIO, dest: Path) -> None:
    """Write a binary stream to ``dest`` in 1 MiB chunks (never the whole file in memory)."""
    with dest.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
