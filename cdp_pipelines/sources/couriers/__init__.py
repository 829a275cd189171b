"""Couriers fetch a source's raw files and land them, unchanged, under ``landing/``.

Each transport is one module exposing a class with ``list()`` and ``fetch()``; adding a
transport is adding a module and one entry in :data:`COURIER_TYPES`.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cdp_pipelines.config.models import CourierSpec
from cdp_pipelines.sources.patterns import FilePattern


@dataclass(frozen=True)
class FoundFile:
    relpath: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class LandedFile:
    relpath: str
    path: Path
    size: int
    sha256: str
    file_date: datetime | None
    newly_landed: bool


class Courier(Protocol):
    def list(self) -> list[FoundFile]: ...

    def fetch(self, relpath: str, dest: Path) -> None: ...


def make_courier(spec: CourierSpec) -> Courier:
    from cdp_pipelines.sources.couriers.local import LocalCourier

    types = {"local": LocalCourier}
    return types[spec.type](spec)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def land(spec: CourierSpec, landing_dir: Path) -> list[LandedFile]:
    """Copy every matching file not yet landed (same name and bytes) into ``landing_dir``."""
    courier = make_courier(spec)
    pattern = FilePattern(spec.pattern)
    landed = []
    for found in sorted(courier.list(), key=lambda f: (pattern.file_date(f.relpath) or
                                                        datetime.min, f.relpath)):
        dest = landing_dir / found.relpath
        fresh = not dest.exists() or dest.stat().st_size != found.size
        if fresh:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.partial")
            courier.fetch(found.relpath, tmp)
            if dest.exists() and sha256_of(dest) == sha256_of(tmp):
                tmp.unlink()
                fresh = False
            else:
                # Rename last: a reader never sees a half-copied file.
                tmp.replace(dest)
        landed.append(LandedFile(found.relpath, dest, dest.stat().st_size, sha256_of(dest),
                                 pattern.file_date(found.relpath), fresh))
    return landed


def landed_files(spec: CourierSpec, landing_dir: Path) -> list[LandedFile]:
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
