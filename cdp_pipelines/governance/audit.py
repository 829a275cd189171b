"""An append-only audit log of sandbox lifecycle actions and promotions.

Stored as JSON lines in production's system area of the lake,
``<lake_root>/prod/_system/audit/audit_log.jsonl`` (``$CDP_AUDIT_LOG`` overrides the path,
which a lake on an object store needs: objects cannot be appended to). Each line is one
:class:`AuditEvent`: when, who (and their roles), what (action, sandbox, outcome, detail)
and the tenant configuration's git commit. Writers take an exclusive lock, append one
line and fsync before returning, so a recorded action survives a crash and lines from
concurrent processes never interleave. Nothing rewrites or truncates the file.

Only values the code chooses go in: names, commits, messages given with ``-m``, error
texts of refused or failed actions. Never environment values or credentials.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from cdp_pipelines.deployment import Deployment

AUDIT_FILE = ("audit", "audit_log.jsonl")


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


def audit_log_path(production: Deployment, override: str | None = None) -> Path:
    """Where production's audit log lives (``override`` wins, e.g. ``$CDP_AUDIT_LOG``)."""
    if override:
        return Path(override).expanduser().resolve()
    path = production.path("_system", *AUDIT_FILE)
    if "://" in path:
        raise AuditError(f"the lake root {production.lake_root} is on an object store, where "
                         "a file cannot be appended to: set CDP_AUDIT_LOG to a local path "
                         "for the audit log")
    return Path(path)


class AuditLog:
    """Append and read audit events in one JSON-lines file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, user: str, roles: Iterable[str], action: str, sandbox: str | None,
               outcome: str = "ok", commit: str | None = None, detail: str = "") -> AuditEvent:
        event = AuditEvent(
            time=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            user=user, roles=tuple(sorted(roles)), action=action, sandbox=sandbox,
            outcome=outcome, commit=commit, detail=detail,
        )
        line = (json.dumps(asdict(event), sort_keys=True) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    def events(self) -> Iterator[AuditEvent]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    data["roles"] = tuple(data.get("roles") or ())
                    yield AuditEvent(**data)
                except (ValueError, TypeError) as exc:
                    raise AuditError(f"{self.path}:{number}: not an audit event: {exc}") from None

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
