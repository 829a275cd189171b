"""The landing files kept for replay, scrubbed of deleted people on every privacy run
(so a file a source sends again after a deletion is scrubbed too):

- every feed's landed files, by the suppression table's salted hashes: a row's record key,
  a customer key pointing at a suppressed record, or an identifier field (email, phone, a
  configured key); a rewritten file's new checksum replaces the old one in the ingest log,
  so it is not loaded again as a new delivery, and a marker beside it keeps the checksum
  of the delivery as received, so its courier does not land it again while the source
  still holds it (a changed file is a new delivery, landed and scrubbed as any);
- every event source's closed files (``landing/events/<source>/``): a message whose id is a
  suppressed Stitch record, or any value of which (user and anonymous ids, traits) hashes
  to a suppressed identifier;
- the ``privacy-request`` sources' files: once a request is applied, its line keeps only
  the request id, type, strategy, received date, status and the identifiers' salted
  hashes (as the requests table does); a rejected request's line keeps its id and status.
  Lines are replaced, never removed, so every request keeps its origin (file and line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from cdp_pipelines.governance.privacy import requests as rq
from cdp_pipelines.governance.privacy.files import (
    BLANK,
    DROP,
    FileOutcome,
    RowTest,
    rewrite_file,
)
from cdp_pipelines.governance.privacy.suppression import (
    EVENT_KINDS,
    hash_identifier,
    read_suppression,
    table_parts,
)
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import landed_files, scrubbed_marker, sha256_of
from cdp_pipelines.sources.domain import INGEST_LOG_TABLE
from cdp_pipelines.stitch.inputs import PK_SEPARATOR
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import FeedSpec
from cdp_pipelines.transports.credentials import Secret

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake


class Suppressed:
    """The suppression table in memory (hash -> action), and a cache of digests, so each
    distinct value of the landing files is hashed once."""

    def __init__(self, secret: Secret, rows: dict[tuple[str, str], str]) -> None:
        self.secret = secret
        self.rows = rows
        self._cache: dict[tuple[str, str], str | None] = {}

    def action(self, kind: str, value: object) -> str | None:
        if value is None or value == "":
            return None
        key = (kind, str(value))
        if key not in self._cache:
            self._cache[key] = hash_identifier(self.secret, kind, value)
        hashed = self._cache[key]
        return self.rows.get((kind, hashed)) if hashed else None


def load_suppressed(lake: "DeltaLake", secret: Secret) -> Suppressed:
    table = read_suppression(lake)
    rows: dict[tuple[str, str], str] = {}
    for r in table.collect() if table is not None else []:
        # A delete wins over a delete_pii of the same identifier.
        if rows.get((r["kind"], r["hash"])) != "delete":
            rows[(r["kind"], r["hash"])] = r["action"]
    return Suppressed(secret, rows)


def _verdict(found: set[str | None]) -> str | None:
    if "delete" in found:
        return DROP
    return BLANK if "delete_pii" in found else None


def _feed_test(feed: FeedSpec, suppressed: Suppressed, match_keys: tuple[str, ...]) -> RowTest:
    """A landed row of ``feed`` is a suppressed person's: by its record key, a customer key
    pointing at a suppressed record, or a hashed identifier (email, phone, a match key)."""
    pk_columns = [feed.field(k).file_column for k in feed.primary_key]
    refs = [(f.file_column, f.references) for f in feed.fields_tagged("customer-key")]
    idents = [(t.replace("-", "_"), f.file_column) for f in feed.fields for t in f.tags
              if t in ("email", "phone") or t in match_keys]

    def test(row: dict) -> str | None:
        if "_bytes" in row:
            # A file privacy cannot read: it may hold a suppressed person.
            return DROP if suppressed.rows else None
        pk = PK_SEPARATOR.join(str(row.get(c, "") or "").strip() for c in pk_columns)
        found = {suppressed.action("record", f"{feed.name}|{pk}")}
        for column, references in refs:
            value = str(row.get(column, "") or "").strip()
            found.add(suppressed.action("record", f"{references}|{value}") if value else None)
        for kind, column in idents:
            found.add(suppressed.action(kind, row.get(column)))
        return _verdict(found)

    return test


def _leaves(value: object) -> list[str]:
    """Every string in a JSON value; strings holding JSON objects are opened too."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _leaves(v)]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    if isinstance(value, str):
        if value.startswith("{"):
            try:
                return _leaves(json.loads(value))
            except ValueError:
                pass
        return [value]
    return []


def _event_test(source: EventSourceSpec, suppressed: Suppressed,
                match_keys: tuple[str, ...]) -> RowTest:
    tables = [source.table(kind) for kind in ("identifies", "aliases", "events")]
    kinds = EVENT_KINDS + tuple(k.replace("-", "_") for k in match_keys)

    def test(row: dict) -> str | None:
        if "_bytes" in row:
            return DROP if suppressed.rows else None
        found = {suppressed.action("record", f"{t}|{row.get('messageId')}") for t in tables}
        for value in _leaves(row):
            found |= {suppressed.action(kind, value) for kind in kinds}
        # An event has no feed fields to blank: a delete_pii drops the raw message too.
        return DROP if found - {None} else None

    return test


def _remember_scrub(path: Path, before: str, after: str) -> None:
    """The delivery a rewritten file was, as received (kept through later rewrites), so its
    courier does not land it again while the source still holds it."""
    marker = scrubbed_marker(path)
    received = before
    if marker.is_file():
        first, _, last = marker.read_text().strip().partition("\n")
        received = first if last == before else before
    marker.write_text(f"{received}\n{after}\n")


def _relog(lake: "DeltaLake", feed: str, relpath: str, old: str, new: str) -> None:
    """The ingest log's checksum of a rewritten file: the rewrite is not a new delivery."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not lake.exists("_system", INGEST_LOG_TABLE):
        return
    DeltaTable.forPath(lake.session, lake.path_for_write("_system", INGEST_LOG_TABLE)).update(
        (F.col("feed") == feed) & (F.col("file") == relpath) & (F.col("sha256") == old),
        {"sha256": F.lit(new)})


def scrub_landing(lake: "DeltaLake", config: Tenant, suppressed: Suppressed,
                  outcome: FileOutcome, log=None) -> None:
    """Every feed's and event source's landed files without the suppressed people's rows
    (or with their PII blanked)."""
    if not suppressed.rows:
        return
    deployment = lake.deployment
    match_keys = config.privacy.match_keys if config.privacy else ()
    for source, feed in config.feeds:
        courier = next(c for c in source.couriers if c.name == feed.courier)
        landing = lake_path(deployment.check_writable(deployment.path(
            "landing", source.name, courier.name)))
        blank = {feed.field(c).file_column for c in feed.pii_columns}
        test = _feed_test(feed, suppressed, match_keys)
        for landed in landed_files(courier, landing):
            label = f"landing/{source.name}/{courier.name}/{landed.relpath}"
            rewrite_file(landed.path, courier.format, test, blank, outcome, label, log)
            if label in outcome.rewritten:
                rewritten = sha256_of(landed.path)
                _remember_scrub(landed.path, landed.sha256, rewritten)
                _relog(lake, feed.name, landed.relpath, landed.sha256, rewritten)
    from cdp_pipelines.events.journal import closed_files

    for source in config.event_sources:
        landing = lake_path(deployment.check_writable(deployment.path(
            "landing", "events", source.name)))
        test = _event_test(source, suppressed, match_keys)
        for path in closed_files(landing):
            rewrite_file(path, None, test, set(), outcome,
                         f"landing/events/{source.name}/{path.name}", log)


def _scrubbed_lines(lake: "DeltaLake") -> dict[str, dict]:
    """origin -> the line that replaces it: applied requests (identifiers hashed, as the
    requests table keeps them) and rejected ones (id and status only)."""
    out: dict[str, dict] = {}
    if lake.exists("_system", *table_parts(rq.REJECTED_TABLE)):
        for r in lake.read("_system", *table_parts(rq.REJECTED_TABLE)).select(
                "origin", "request_id").collect():
            out[r["origin"]] = {"request_id": r["request_id"], "status": rq.REJECTED}
    if lake.exists("_system", *table_parts(rq.REQUESTS_TABLE)):
        for r in lake.read("_system", *table_parts(rq.REQUESTS_TABLE)).where(
                f"status = '{rq.APPLIED}'").collect():
            out[r["origin"]] = {
                "request_id": r["request_id"], "type": r["type"], "strategy": r["strategy"],
                "received": r["received"].isoformat(), "status": r["status"],
                rq.HASHED_FIELD: r["identifiers"]}
    return out


def scrub_request_files(lake: "DeltaLake", config: Tenant, outcome: FileOutcome) -> None:
    """The privacy-request sources' landed files, each applied or rejected request's line
    replaced by what may be kept of it (see the module docstring)."""
    deployment = lake.deployment
    lines = None
    for source, courier in config.privacy_request_couriers:
        landing = lake_path(deployment.check_writable(deployment.path(
            "landing", source.name, courier.name)))
        for landed in landed_files(courier, landing):
            lines = _scrubbed_lines(lake) if lines is None else lines
            origin = f"{source.name}/{landed.relpath}"
            replacements = {
                i: lines[f"{origin}:{i}"]
                for i, record in enumerate(rq.read_request_file(landed.path), start=1)
                if f"{origin}:{i}" in lines and not rq.is_scrubbed(record)}
            if replacements:
                rq.write_request_file(landed.path, replacements)
                _remember_scrub(landed.path, landed.sha256, sha256_of(landed.path))
                outcome.rewritten[f"landing/{source.name}/{courier.name}/{landed.relpath}"] = \
                    len(replacements)
