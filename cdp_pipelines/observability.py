"""What a long asset says while it runs: its stages, with counts and seconds, in the run log.

    with stage(context.log, "stitch: scoring pairs") as s:
        stats = lake.overwrite(edges, "stitch", "unified_scores")
        s.count(stats.rows, "pairs")
    # run log: "stitch: scoring pairs ..." then "stitch: scoring pairs: 12,345 pairs in 3.2 s"

Counts come from what the stage already has (a Delta commit's row count, a collected
aggregate), never from an extra Spark action. ``forward_python_logs`` sends a library's
Python logger (Splink's) to the same run log while a block runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stage:
    """One stage of an asset; ``count`` records what it produced, for its closing line."""

    name: str
    started: float = field(default_factory=time.perf_counter)
    counts: list[tuple[int, str]] = field(default_factory=list)
    note: str = ""

    def count(self, n: int | None, what: str) -> None:
        if n is not None:
            self.counts.append((int(n), what))

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def summary(self) -> str:
        done = ", ".join(f"{n:,} {what}" for n, what in self.counts)
        return (f"{self.name}{': ' + done if done else ''} in {self.seconds:.1f} s"
                + (f" ({self.note})" if self.note else ""))


@contextmanager
def stage(log: logging.Logger, name: str) -> Iterator[Stage]:
    """Log ``name ...`` now and ``name: <counts> in <s> s`` when the block ends (a WARNING
    with the seconds if it fails; the error itself is the run's to report)."""
    current = Stage(name)
    log.info(f"{name} ...")
    try:
        yield current
    except BaseException:
        log.warning(f"{name}: failed after {current.seconds:.1f} s")
        raise
    log.info(current.summary())


@dataclass
class Timings:
    """Seconds per part of a job (a load's read, each table's write, ...), in the order
    the parts ran; ``str()`` is the line a log shows."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def __str__(self) -> str:
        return ", ".join(f"{name} {s:.1f}" for name, s in self.seconds.items()) or "none"


class _Forward(logging.Handler):
    def __init__(self, target: logging.Logger, level: int) -> None:
        super().__init__(level)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().strip()
        except Exception:  # noqa: BLE001 - a library's bad format string must not fail a run
            self.handleError(record)
            return
        if message:
            self.target.log(record.levelno, f"{record.name}: {message}")


@contextmanager
def forward_python_logs(target: logging.Logger, *names: str,
                        level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, lines of the Python loggers ``names`` at ``level`` or above
    also go to ``target`` (a Dagster ``context.log``), so they appear in the run's log."""
    handler = _Forward(target, level)
    sources = [logging.getLogger(name) for name in names]
    previous = [source.level for source in sources]
    for source in sources:
        if source.getEffectiveLevel() > level:
            source.setLevel(level)
        source.addHandler(handler)
    try:
        yield
    finally:
        for source, old_level in zip(sources, previous):
            source.removeHandler(handler)
            source.setLevel(old_level)
