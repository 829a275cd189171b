"""Landing files shipped to a lake on object storage.

An object store cannot append, and an acknowledged event must survive a crash, so a
collector whose lake is on ``s3a://`` or ``abfss://`` keeps its journal
(:mod:`cdp_pipelines.events.journal`) in a local *spool* directory, one per source, and a
:class:`Shipper` moves each closed file to the lake's ``landing/events/<source>/``:

- the file is put whole under its own name (:func:`~cdp_pipelines.resources.lake_files.
  put_verified`: staged, size checked, moved), so the loader never lists half a file;
- only then is the local copy deleted. A crash between the two leaves the file in the
  spool; the next start puts it again, under the same name and with the same bytes, and
  the loader's ingest log (by file name) and message-id dedupe store it once;
- a store that cannot be reached (or refuses) costs nothing acknowledged: files wait in
  the spool and the shipper retries, backing off up to ``max_backoff`` seconds. The
  collector keeps acknowledging meanwhile; :meth:`Shipper.backlog` says how many wait.

Several collector processes may share a spool (uvicorn workers): a file is shipped under
an exclusive ``flock``, so no two ship it at once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cdp_pipelines.events.journal import closed_files, exclusively_locked
from cdp_pipelines.resources.lake_files import LakePath, put_verified

log = logging.getLogger(__name__)


class Shipper:
    """Moves one source's closed spool files to its landing prefix on the lake."""

    def __init__(self, spool: Path, landing: LakePath, interval: float = 5.0,
                 max_backoff: float = 30.0):
        self.spool = Path(spool)
        self.landing = landing
        self.interval = interval
        self.max_backoff = max_backoff
        self.shipped = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Shipper":
        self._thread = threading.Thread(target=self._run, name=f"ship-{self.spool.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def wake(self, *_: object) -> None:
        """A file was closed: ship it now rather than at the next interval."""
        self._wake.set()

    def close(self) -> None:
        """Stop, after one last pass (what it cannot ship waits for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.ship_pending()

    def backlog(self) -> int:
        """Closed files waiting in the spool."""
        return len(closed_files(self.spool))

    def ship_pending(self) -> bool:
        """Ship every closed file of the spool; False if one could not be shipped."""
        for path in closed_files(self.spool):
            try:
                self._ship(path)
            except Exception as exc:  # the store: unreachable, refusing, out of space
                self.failures += 1
                log.error("could not ship %s to %s (it stays in the spool and is retried): "
                          "%s", path.name, self.landing, exc)
                return False
        return True

    def _ship(self, path: Path) -> None:
        with exclusively_locked(path) as fd:
            # None: shipped by another process meanwhile, or being shipped by one.
            if fd is None or not path.exists():
                return  # (or shipped and deleted between the listing and the lock)
            put_verified(path, self.landing / path.name)
            path.unlink()
            self.shipped += 1
        log.info("shipped %s to %s", path.name, self.landing)

    def _run(self) -> None:
        self._wake.set()  # files a previous run left in the spool go first
        wait, backoff = self.interval, 1.0
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self.ship_pending():
                wait, backoff = self.interval, 1.0
            else:
                wait, backoff = backoff, min(self.max_backoff, backoff * 2)
