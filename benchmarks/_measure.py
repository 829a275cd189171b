"""Peak memory of a process tree, sampled in a background thread.

The memory of a root process plus all its descendants (the Spark JVM that PySpark starts
is a child of the Python driver), sampled every ``interval`` seconds: each process's
proportional set size (PSS, Linux), in which a page shared by several processes counts
once, split between them; RSS where PSS cannot be read. Summed RSS counts a shared page
once per process, and a child the JVM forks holds the JVM's whole RSS until it calls exec
(in a 100k churn run, the highest RSS sample, 6.6 GiB, held such a child of 2.8 GiB,
named after the JVM thread that forked it). Whole subtrees can be left out (servers
started beside the benchmark that are not part of it). A sampled peak can miss a spike
shorter than the interval.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

GIB = 1024 ** 3


def _memory(process) -> int:
    """The PSS of `process`, else its RSS."""
    import psutil

    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):  # no PSS on this platform, or not ours
        return process.memory_info().rss


class PeakMemory:
    """Use as a context manager; ``peak_bytes`` / ``peak_gib`` hold the highest sample."""

    def __init__(self, pid: int | None = None, interval: float = 0.5,
                 exclude: Iterable[int] = ()) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._exclude = set(exclude)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_bytes = 0

    def _tree_rss(self) -> int:
        import psutil

        total = 0
        pending = [self._root]
        while pending:
            process = pending.pop()
            try:
                total += _memory(process)
                pending.extend(c for c in process.children() if c.pid not in self._exclude)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                # A child that exits between listing and reading holds no memory any more.
                continue
        return total

    def sample(self) -> int:
        rss = self._tree_rss()
        self.peak_bytes = max(self.peak_bytes, rss)
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> "PeakMemory":
        self.sample()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB
