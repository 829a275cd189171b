"""The embedded instance: Dagster's own, with SQLite storage whose pool slots two processes
cannot claim at once.

Dagster's SQL event log claims a pool slot in steps: it counts the pool's slots against its
assigned steps, queues the step as assigned if a slot is left, then picks a free slot row
and writes the step into it. PostgreSQL locks that row (``SELECT ... FOR UPDATE SKIP
LOCKED``); SQLite has no row locks, so two runs whose steps claim the same pool within a few
milliseconds both pass every step and both run (seen on this project's instance: two runs
writing one table overlapped). Here every claim, release and slot change holds one lock file
in the event log's directory, so on one machine (all SQLite can serve) they happen one
process at a time. The project's ``dagster.yaml`` names ``CdpInstance``; its default storage
is this one, under the instance's directory as Dagster's own default.
"""

from __future__ import annotations

import fcntl
import functools
import threading
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
)
from dagster._serdes import ConfigurableClassData

LOCK_FILE = ".concurrency.lock"


class _ProcessLock:
    """A lock file held by one process at a time; re-entrant within the process."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._file: Any = None

    def __enter__(self) -> _ProcessLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            self._file = open(self._path, "a")
            fcntl.flock(self._file, fcntl.LOCK_EX)
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._file.close()  # releases the flock
            self._file = None
        self._thread_lock.release()


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._pool_lock:
            return method(self, *args, **kwargs)
    return wrapper


class PoolSafeSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log whose concurrency-slot reads-then-writes run one process at a time."""

    def __init__(self, base_dir: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(base_dir, *args, **kwargs)
        Path(base_dir).mkdir(parents=True, exist_ok=True)
        self._pool_lock = _ProcessLock(Path(base_dir) / LOCK_FILE)

    claim_concurrency_slot = _locked(SqliteEventLogStorage.claim_concurrency_slot)
    free_concurrency_slots_for_run = _locked(SqliteEventLogStorage.free_concurrency_slots_for_run)
    free_concurrency_slot_for_step = _locked(SqliteEventLogStorage.free_concurrency_slot_for_step)
    assign_pending_steps = _locked(SqliteEventLogStorage.assign_pending_steps)
    initialize_concurrency_limit_to_default = _locked(
        SqliteEventLogStorage.initialize_concurrency_limit_to_default)
    set_concurrency_slots = _locked(SqliteEventLogStorage.set_concurrency_slots)


class PoolSafeSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage with ``PoolSafeSqliteEventLogStorage`` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = PoolSafeSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any):
        return cls.from_local(inst_data=inst_data, **config_value)


class CdpInstance(DagsterInstance):
    """Dagster's instance whose default storage (no ``storage`` in dagster.yaml) is
    ``PoolSafeSqliteStorage`` under the instance's directory."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> dict:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = ConfigurableClassData(
            __name__, PoolSafeSqliteStorage.__name__,
            yaml.dump({"base_dir": base_dir}, default_flow_style=False))
        return defaults
