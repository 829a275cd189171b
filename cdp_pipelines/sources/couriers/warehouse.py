"""Courier for a SQL warehouse table, pulled incrementally by an updated-at column.

Options (:class:`~cdp_pipelines.tenant.sources.WarehousePull`): ``table``,
``updated_at_column``, ``output`` (``parquet``, default, or ``jsonl``), optional
``schema``, and the warehouse connection (``url_env``/``url_file``, or ``host``,
``port``, ``database``, ``username``, ``password_env``/``password_file``).
Each pull of new rows becomes one file named with the pull time. The watermark (the
greatest updated-at value landed) is a small JSON file in the lake under ``_system``,
written only after the pull's file has landed, so a failed run re-reads the same rows.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from cdp_pipelines.resources.lake_files import LakePath, lake_path
from cdp_pipelines.sources.couriers import FoundFile, copy_file
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec

WATERMARKS_DIR = "courier_watermarks"


def default_state_dir() -> LakePath:
    from cdp_pipelines.deployment import get_deployment

    return lake_path(get_deployment().path("_system", WATERMARKS_DIR))


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, (datetime, date)):
        return {"type": "timestamp", "value": value.isoformat()}
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return {"type": "value", "value": value}


def _decode(stored: dict[str, Any]) -> Any:
    if stored["type"] == "timestamp":
        return datetime.fromisoformat(stored["value"])
    return stored["value"]


class WarehouseCourier:
    def __init__(self, spec: CourierSpec, state_dir: LakePath | None = None) -> None:
        from cdp_pipelines.transports import Warehouse

        self.spec = spec
        self.pattern = FilePattern(spec.pattern)
        self.table = spec.options.table
        self.updated_at = spec.options.updated_at_column
        self.output = spec.options.output
        self.warehouse = Warehouse.from_options(spec.options)
        self.state_file = (state_dir or default_state_dir()) / f"{spec.name}.json"
        self._staging: Path | None = None
        self._pulled: list[FoundFile] | None = None
        self._new_watermark: Any = None

    def __repr__(self) -> str:
        return f"WarehouseCourier({self.spec.name!r}, {self.warehouse!r}, table={self.table!r})"

    @property
    def watermark(self) -> Any:
        """The greatest updated-at value landed so far (None before the first pull)."""
        if not self.state_file.is_file():
            return None
        return _decode(json.loads(self.state_file.read_text())["watermark"])

    def _pull(self) -> list[FoundFile]:
        since = self.watermark
        frame, newest = self.warehouse.read_incremental(self.table, self.updated_at, since)
        if frame.empty:
            return []
        pulled_at = datetime.now(timezone.utc)
        self._staging = Path(tempfile.mkdtemp(prefix=f"cdp-warehouse-{self.spec.name}-"))
        relpath = self.pattern.render(pulled_at, fill=f"{pulled_at.microsecond:06d}")
        target = self._staging / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.output == "parquet":
            # Microseconds: Spark does not read Parquet's nanosecond timestamps.
            frame.to_parquet(target, index=False, coerce_timestamps="us",
                             allow_truncated_timestamps=True)
        else:
            frame.to_json(target, orient="records", lines=True, date_format="iso",
                          date_unit="us", force_ascii=False)
        self._new_watermark = newest
        return [FoundFile(relpath, target.stat().st_size, pulled_at)]

    def list(self) -> list[FoundFile]:
        if self._pulled is None:
            self._pulled = self._pull()
        return self._pulled

    def fetch(self, relpath: str, dest: Path) -> None:
        if self._staging is None:
            raise RuntimeError(f"courier {self.spec.name}: fetch({relpath!r}) before list()")
        copy_file(self._staging / relpath, dest)

    def commit(self) -> None:
        """Store the new watermark (call after the pulled file has landed)."""
        if self._new_watermark is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(f".{self.state_file.name}.partial")
        tmp.write_text(json.dumps({
            "courier": self.spec.name, "table": self.table, "column": self.updated_at,
            "watermark": _encode(self._new_watermark),
            "updated_at": datetime.now(timezone.utc).isoformat(),
        }))
        tmp.replace(self.state_file)
        self._new_watermark = None

    def close(self) -> None:
        self.warehouse.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
