"""Rewrite raw files without a deleted person's rows (or with their PII fields blanked):
the landing files kept for replay, and the outbox files of deliveries.

Landing files are scrubbed against the suppression table's hashes (each privacy run, so
a file the source sends again after a deletion is scrubbed too); outbox files by the
matched people's amperity_ids and identifying values. Text formats are rewritten (CSV/TSV/PSV with a header, JSON lines, each optionally
gzipped); a file in another format that holds the person cannot be rewritten here and is
reported, so the request ends ``partially applied`` rather than silently incomplete. A
rewritten landing file's new checksum replaces the old one in the ingest log, so it is not
loaded again as a new delivery.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from cdp_pipelines.governance.privacy.matching import Match
from cdp_pipelines.governance.privacy.suppression import (
    hash_identifier,
    read_suppression,
)
from cdp_pipelines.sources.couriers import landed_files, sha256_of
from cdp_pipelines.sources.domain import INGEST_LOG_TABLE
from cdp_pipelines.stitch.inputs import PK_SEPARATOR
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import FeedSpec, FormatSpec
from cdp_pipelines.transports.credentials import Secret

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

# A row (as a dict of file column -> value) -> "drop", "blank" (its PII) or None.
RowTest = Callable[[dict], "str | None"]
DROP, BLANK = "drop", "blank"


@dataclass
class FileOutcome:
    rewritten: dict[str, int] = field(default_factory=dict)  # file -> rows changed
    failed: dict[str, str] = field(default_factory=dict)  # file -> reason


def _text_kind(path: Path, fmt: FormatSpec | None) -> str | None:
    name = path.name.removesuffix(".gz")
    kind = fmt.type if fmt else name.rsplit(".", 1)[-1]
    if kind in ("csv", "tsv", "psv") and (fmt is None or fmt.header):
        return kind
    if kind in ("jsonl", "json", "ndjson"):
        return "jsonl"
    if kind == "parquet" and not path.name.endswith(".gz"):
        return "parquet"
    return None


def _rewrite(path: Path, fmt: FormatSpec | None, test: RowTest, blank: set[str],
             outcome: FileOutcome, label: str) -> None:
    """Rewrite one file: rows ``test`` says ``drop`` go, rows it says ``blank`` keep their
    ``blank`` columns empty."""
    gz = path.name.endswith(".gz")
    kind = _text_kind(path, fmt)
    compression = fmt.compression if fmt else "auto"
    if kind is None or compression not in ("auto", "none", "gzip") or (fmt and fmt.pgp):
        # Only a file that holds nothing of the person may stay as it is.
        if test({"_bytes": path.read_bytes().decode("utf-8", "replace")}):
            outcome.failed[label] = "format not rewritable by privacy (binary, archive or PGP)"
        return
    changed = 0

    def change(row: dict, empty: object) -> dict | None:
        nonlocal changed
        verdict = test(row)
        if verdict == DROP:
            changed += 1
            return None
        if verdict == BLANK and any(row.get(c) not in (None, "") for c in blank):
            changed += 1
            return {k: (empty if k in blank else v) for k, v in row.items()}
        return row

    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        rows = [kept for kept in (change(r, None) for r in table.to_pylist())
                if kept is not None]
        if changed:
            tmp = path.with_name(f".{path.name}.privacy")
            pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp)
            tmp.replace(path)
            outcome.rewritten[label] = changed
        return
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    text = raw.decode(fmt.encoding if fmt else "utf-8")
    if kind == "jsonl":
        lines = []
        for line in text.splitlines():
            record = json.loads(line) if line.strip() else None
            if isinstance(record, dict):
                kept = change(record, None)
                if kept is None:
                    continue
                line = json.dumps(kept) if kept is not record else line
            lines.append(line)
        out = "\n".join(lines) + ("\n" if lines else "")
    else:
        delimiter = fmt.field_delimiter if fmt else {"tsv": "\t", "psv": "|"}.get(kind, ",")
        quote = fmt.quote if fmt else '"'
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter, quotechar=quote)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=reader.fieldnames or [], delimiter=delimiter,
                                quotechar=quote, lineterminator="\n")
        writer.writeheader()
        for row in reader:
            kept = change(row, "")
            if kept is not None:
                writer.writerow(kept)
        out = buffer.getvalue()
    if not changed:
        return
    data = out.encode(fmt.encoding if fmt else "utf-8")
    tmp = path.with_name(f".{path.name}.privacy")
    tmp.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    tmp.replace(path)
    outcome.rewritten[label] = changed


def _cell_test(values: set[str]) -> RowTest:
    def hit(row: dict) -> bool:
        for value in row.values():
            if value is None:
                continue
            text = str(value).strip().lower()
            if text in values or (len(text) > 200 and any(f'"{v}"' in text or v in text
                                                           for v in values)):
                return True
        return False

    return hit


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
            hashed = hash_identifier(self.secret, kind, value)
            self._cache[key] = hashed
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


def _feed_test(feed: FeedSpec, suppressed: Suppressed, match_keys: tuple[str, ...]) -> RowTest:
    """A landed row of ``feed`` is a suppressed person's: by its record key, a customer key
    pointing at a suppressed record, or a hashed identifier (email, phone, a match key)."""
    pk_columns = [feed.field(k).file_column for k in feed.primary_key]
    refs = [(f.file_column, f.references) for f in feed.fields_tagged("customer-key")]
    idents = [(t.replace("-", "_"), f.file_column) for f in feed.fields for t in f.tags
              if t in ("email", "phone") or t in match_keys]

    def test(row: dict) -> str | None:
        if "_bytes" in row:
            # A file privacy cannot read (archive, PGP): it may hold a suppressed person.
            return DROP if suppressed.rows else None
        found = set()
        pk = PK_SEPARATOR.join(str(row.get(c, "") or "").strip() for c in pk_columns)
        found.add(suppressed.action("record", f"{feed.name}|{pk}"))
        for column, references in refs:
            value = str(row.get(column, "") or "").strip()
            found.add(suppressed.action("record", f"{references}|{value}") if value else None)
        for kind, column in idents:
            found.add(suppressed.action(kind, row.get(column)))
        if "delete" in found:
            return DROP
        return BLANK if "delete_pii" in found else None

    return test


def scrub_landing(lake: "DeltaLake", config: Tenant, suppressed: Suppressed,
                  outcome: FileOutcome) -> None:
    """Every feed's landed files without the suppressed people's rows (or with their PII
    blanked): run after each privacy step, so a file re-sent by the source after a
    deletion is scrubbed too."""
    if not suppressed.rows:
        return
    deployment = lake.deployment
    match_keys = config.privacy.match_keys if config.privacy else ()
    for source, feed in config.feeds:
        courier = next(c for c in source.couriers if c.name == feed.courier)
        landing = Path(deployment.check_writable(deployment.path(
            "landing", source.name, courier.name)))
        blank = {feed.field(c).file_column for c in feed.pii_columns}
        test = _feed_test(feed, suppressed, match_keys)
        for landed in landed_files(courier, landing):
            label = f"landing/{source.name}/{courier.name}/{landed.relpath}"
            _rewrite(landed.path, courier.format, test, blank, outcome, label)
            if label in outcome.rewritten:
                _relog(lake, feed.name, landed.relpath, landed.sha256, sha256_of(landed.path))


def _relog(lake: "DeltaLake", feed: str, relpath: str, old: str, new: str) -> None:
    """The ingest log's checksum of a rewritten file: the rewrite is not a new delivery."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not lake.exists("_system", INGEST_LOG_TABLE):
        return
    DeltaTable.forPath(lake.session, lake.path_for_write("_system", INGEST_LOG_TABLE)).update(
        (F.col("feed") == feed) & (F.col("file") == relpath) & (F.col("sha256") == old),
        {"sha256": F.lit(new)})


def rewrite_outbox(lake: "DeltaLake", matches: list[Match], outcome: FileOutcome) -> None:
    """Files delivered to the deployment's outbox (a sandbox's deliveries), without the
    matched people's rows (by amperity_id or identifying value)."""
    root = Path(lake.deployment.path("outbox"))
    if not root.is_dir():
        return
    values = set().union(*(m.values | {a.lower() for a in m.amperity_ids} for m in matches))
    test = _cell_test(values)

    def hit(row: dict) -> str | None:
        if "_bytes" in row:
            return DROP if any(v in row["_bytes"].lower() for v in values) else None
        return DROP if test(row) else None

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(".DONE") or path.name.startswith("."):
            continue
        _rewrite(path, None, hit, set(), outcome,
                 f"outbox/{path.relative_to(root).as_posix()}")
