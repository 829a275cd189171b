"""Courier for files on a local or mounted filesystem."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from cdp_pipelines.sources.couriers import FoundFile, copy_file
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec


class LocalCourier:
    def __init__(self, spec: CourierSpec) -> None:
        self.spec = spec
        self.root = Path(spec.root).expanduser().resolve()
        self.pattern = FilePattern(spec.pattern)

    def list(self) -> list[FoundFile]:
        if not self.root.is_dir():
            return []
        out = []
        for path in self.root.glob(self.pattern.glob):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and self.pattern.match(rel):
                stat = path.stat()
                out.append(FoundFile(rel, stat.st_size,
                                     datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)))
        return out

    def fetch(self, relpath: str, dest: Path) -> None:
        copy_file(self.root / relpath, dest)
