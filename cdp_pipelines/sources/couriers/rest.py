"""Courier for a REST API: each pull becomes one JSON-lines file named with the pull time.

Options (:class:`~cdp_pipelines.tenant.sources.RestPull`): ``base_url`` and ``path``
(required), ``params``, ``pagination`` (style ``page_number`` | ``cursor`` |
``link_header`` with its fields, see :class:`~cdp_pipelines.transports.rest.Pagination`),
and the REST client's own keys (``token_env``/``token_file``, ``auth_header``,
``auth_scheme``, ``headers``, timeouts and retries). Retries, backoff and rate limits
(429 + Retry-After) are the client's. A pull that returns no record lands nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cdp_pipelines.sources.couriers import FoundFile, copy_file
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.sources import CourierSpec


class RestCourier:
    def __init__(self, spec: CourierSpec) -> None:
        from cdp_pipelines.transports import RestClient

        self.spec = spec
        self.pattern = FilePattern(spec.pattern)
        self.pull = spec.options
        self.client = RestClient.from_options(self.pull)
        self._staging: Path | None = None
        self._pulled: list[FoundFile] | None = None

    def __repr__(self) -> str:
        return f"RestCourier({self.spec.name!r}, {self.client!r}{self.pull.path})"

    def _pull(self) -> list[FoundFile]:
        pulled_at = datetime.now(timezone.utc)
        self._staging = Path(tempfile.mkdtemp(prefix=f"cdp-rest-{self.spec.name}-"))
        relpath = self.pattern.render(pulled_at, fill=f"{pulled_at.microsecond:06d}")
        target = self._staging / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with target.open("w", encoding="utf-8") as out:
            for page in self.client.iter_pages(self.pull.path, self.pull.params,
                                               self.pull.pagination):
                for record in page:
                    out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    count += 1
        if not count:
            return []
        return [FoundFile(relpath, target.stat().st_size, pulled_at)]

    def list(self) -> list[FoundFile]:
        # One pull per courier run: listing twice must not call the API twice.
        if self._pulled is None:
            self._pulled = self._pull()
        return self._pulled

    def fetch(self, relpath: str, dest: Path) -> None:
        if self._staging is None:
            raise RuntimeError(f"courier {self.spec.name}: fetch({relpath!r}) before list()")
        copy_file(self._staging / relpath, dest)

    def close(self) -> None:
        self.client.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
