"""An append-only audit log of sandbox lifecycle actions and promotions.

Kept in production's system area of the lake (``$CDP_AUDIT_LOG`` overrides where). Each
record is one :class:`AuditEvent`: when, who (and their roles), what (action, sandbox,
outcome, detail) and the tenant configuration's git commit.

- On a local lake, JSON lines in ``<lake_root>/prod/_system/audit/audit_log.jsonl``.
  Writers take an exclusive lock, append one line and fsync before returning, so a
  recorded action survives a crash and lines from concurrent processes never interleave.
- On an object store (``s3a://``, ``abfss://``), where an object cannot be appended to, one
  object per event under ``<lake_root>/prod/_system/audit/events/``, named by its time and
  a random suffix: a put is atomic and names never repeat, so writers never overwrite one
  another and a recorded action is stored when ``record`` returns.

Nothing rewrites, truncates or deletes an event.

Only values the code chooses go in: names, commits, messages given with ``-m``, error
texts of refused or failed actions. Never environment values or credentials.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.lake_files import (
    LakePath,
    ObjectPath,
    is_object_store,
    lake_path,
)

AUDIT_FILE = ("audit", "audit_log.jsonl")
# On an object store: one object per event in this folder of the audit area.
AUDIT_EVENTS = ("audit", "events")


class AuditError(RuntimeError):
    """The audit log cannot be located or read."""


@dataclass(frozen=True)
class AuditEvent:
    time: str
    user: str
    roles: tuple[str, ...]
    action: str
    sandbox: str | None
    outcome: str  # ok | refused | failed
    commit: str | None = None
    detail: str = ""


def audit_log_path(production: Deployment, override: str | None = None) -> LakePath:
    """Where production's audit log lives (``override`` wins, e.g. ``$CDP_AUDIT_LOG``): a
    local JSON-lines file, or on an object store the folder of its event objects."""
    if override:
        return lake_path(override).expanduser().resolve()
    if is_object_store(production.lake_root):
        return lake_path(production.path("_system", *AUDIT_EVENTS))
    return Path(production.path("_system", *AUDIT_FILE))


def _parse(text: str, where: str) -> AuditEvent:
    try:
        data = json.loads(text)
        data["roles"] = tuple(data.get("roles") or ())
        return AuditEvent(**data)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{where}: not an audit event: {exc}") from None


class AuditLog:
    """Append and read audit events: a JSON-lines file, or on an object store a folder of
    one object per event (see the module docstring)."""

    def __init__(self, path: str | LakePath) -> None:
        self.path = lake_path(path)

    @property
    def on_object_store(self) -> bool:
        return isinstance(self.path, ObjectPath)

    def record(self, user: str, roles: Iterable[str], action: str, sandbox: str | None,
               outcome: str = "ok", commit: str | None = None, detail: str = "") -> AuditEvent:
        event = AuditEvent(
            time=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            user=user, roles=tuple(sorted(roles)), action=action, sandbox=sandbox,
            outcome=outcome, commit=commit, detail=detail,
        )
        text = json.dumps(asdict(event), sort_keys=True) + "\n"
        if self.on_object_store:
            # Sorted by name is sorted by time: a compact UTC stamp, then a random suffix
            # that keeps two writers of one microsecond apart.
            stamp = event.time.replace("-", "").replace(":", "").replace("+0000", "Z")
            (self.path / f"{stamp}-{uuid.uuid4().hex[:12]}.json").write_text(text)
            return event
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    def events(self) -> Iterator[AuditEvent]:
        if self.on_object_store:
            for entry in sorted(e for e in self.path.rglob("*.json") if e.is_file()):
                yield _parse(entry.read_text(), str(entry))
            return
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _parse(line, f"{self.path}:{number}")

    def export_csv(self, target: str | Path, events: Iterable[AuditEvent] | None = None) -> int:
        """Write events (all by default) to a CSV file; return how many."""
        names = [f.name for f in fields(AuditEvent)]
        count = 0
        with Path(target).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for event in self.events() if events is None else events:
                row = asdict(event)
                row["roles"] = " ".join(event.roles)
                writer.writerow(row)
                count += 1
        return count
