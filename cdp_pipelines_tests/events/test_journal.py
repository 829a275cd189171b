"""Landing files: appends return once synced, concurrent appends share syncs, files roll
by size and age, and recovery closes what a dead writer left open."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cdp_pipelines.events.journal import OPEN_SUFFIX, Journal, closed_files, recover


async def _append_all(journal: Journal, lines: list[bytes]) -> None:
    await asyncio.gather(*(journal.append(line) for line in lines))


def test_concurrent_appends_share_syncs_and_files_roll_by_size(tmp_path: Path):
    journal = Journal(tmp_path, roll_bytes=4000, roll_seconds=60).start()
    lines = [f'{{"n": {i:05d}}}\n'.encode() for i in range(2000)]
    try:
        for wave in range(0, len(lines), 100):  # 20 waves of 100 concurrent appends
            asyncio.run(_append_all(journal, lines[wave:wave + 100]))
        assert journal.syncs < len(lines) / 4, "appends waiting together share one sync"
    finally:
        journal.close()
    files = closed_files(tmp_path)
    assert len(files) >= 5 and not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))
    written = b"".join(p.read_bytes() for p in files)
    assert sorted(written.splitlines(keepends=True)) == sorted(lines)
    # A file is closed by the write that takes it past the size: one wave over at most.
    assert max(p.stat().st_size for p in files) < 4000 + 100 * len(lines[0])


def test_an_idle_open_file_is_closed_after_its_age(tmp_path: Path):
    journal = Journal(tmp_path, roll_seconds=0.3).start()
    try:
        asyncio.run(journal.append(b'{"a": 1}\n'))
        assert closed_files(tmp_path) == []
        deadline = time.monotonic() + 10
        while not closed_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.read_bytes() for p in closed_files(tmp_path)] == [b'{"a": 1}\n']
    finally:
        journal.close()


def test_recovery_cuts_a_torn_line_and_leaves_live_files_alone(tmp_path: Path):
    dead = tmp_path / f"host-1-dead-000001{OPEN_SUFFIX}"
    dead.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    empty = tmp_path / f"host-1-dead-000002{OPEN_SUFFIX}"
    empty.write_bytes(b'{"torn')
    live = Journal(tmp_path, roll_seconds=60).start()  # a starting journal recovers
    try:
        asyncio.run(live.append(b'{"b": 1}\n'))
        [closed] = closed_files(tmp_path)
        assert closed.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
        assert not dead.exists() and not empty.exists()
        # The live journal's file is locked: still open, still its own.
        [open_file] = tmp_path.glob(f"*{OPEN_SUFFIX}")
        assert open_file.read_bytes() == b'{"b": 1}\n'
        assert recover(tmp_path) == []
    finally:
        live.close()
    assert len(closed_files(tmp_path)) == 2
