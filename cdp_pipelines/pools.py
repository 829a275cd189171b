"""Concurrency pools: steps of overlapping runs that write the same lake table take turns.

The instance's ``dagster.yaml`` gives every pool a default limit of one slot, so when a
file-arrival sensor's run and a schedule's run both reach a table, the second step waits
("blocked by pool" in the UI) until the first has committed, instead of both committing to
Delta at once. A pool is named after the table its asset writes; Stitch is one pool, since
its steps write ``stitch/*`` and the current match model together; Privacy is one pool too,
since both its steps write the requests table (its apply step also changes tables of every
layer; a writer of one of those meanwhile gets Delta's commit conflict, and the request is
applied again on the next run).

Pool slots live in the Dagster instance. A sandbox has an instance of its own, so its steps
never wait for production's (nor could they conflict: they write under ``branches/<name>/``).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dagster import AssetKey, DagsterInstance, asset

STITCH_POOL = "lake/stitch"
PRIVACY_POOL = "lake/privacy"


def table_pool(key: AssetKey) -> str:
    return "lake/" + "/".join(key.path)


def table_asset(*, key: AssetKey, **kwargs: Any):
    """``@asset`` for an asset that writes the lake table its key names, in that table's pool."""
    return asset(key=key, pool=table_pool(key), **kwargs)


def ensure_pool_slots(instance: DagsterInstance, pools: Iterable[str]) -> None:
    """Give each pool its slots before a run's steps claim them.

    Dagster creates a pool's slots when a step first claims it, counting and then inserting;
    two runs doing that at the same moment on SQLite storage both insert, and the pool keeps
    two slots for good (seen on this project's instance). Here the slots are created first,
    one process at a time (a lock file in DAGSTER_HOME), and a pool holding more slots than
    its limit is set back to its limit. `cdp materialize` and the run launcher call this.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or \
            instance.global_op_concurrency_default_limit is None:
        return
    wanted = sorted({pool for pool in pools if pool})
    if not wanted:
        return
    with open(Path(instance.root_directory) / ".cdp-pools.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        limits = {limit.name: limit.limit for limit in storage.get_pool_limits()}
        for pool in wanted:
            if pool not in limits:
                storage.initialize_concurrency_limit_to_default(pool)
            elif storage.get_concurrency_info(pool).slot_count != limits[pool]:
                storage.set_concurrency_slots(pool, limits[pool])
