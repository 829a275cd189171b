"""The courier of every remote FileStore (S3, Azure Blob, SFTP: each store type but local)."""

from __future__ import annotations

from pathlib import Path

from cdp_pipelines.sources.couriers import FoundFile, copy_stream
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec


class StoreCourier:
    """Lists the store with the pattern's glob, keeps exact pattern matches, streams fetches."""

    def __init__(self, spec: CourierSpec) -> None:
        from cdp_pipelines.transports import make_store

        self.spec = spec
        self.pattern = FilePattern(spec.pattern)
        self.store = make_store(spec.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, {self.store!r})"

    def list(self) -> list[FoundFile]:
        return [FoundFile(f.path, f.size, f.modified)
                for f in self.store.list(self.pattern.glob) if self.pattern.match(f.path)]

    def fetch(self, relpath: str, dest: Path) -> None:
        with self.store.open_read(relpath) as source:
            copy_stream(source, dest)

    def close(self) -> None:
        self.store.close()
