"""Rewrite raw files without a deleted person's rows (or with their PII fields blanked):
the landing files kept for replay, and the outbox files of deliveries.

Text formats are rewritten (CSV/TSV/PSV with a header, JSON lines, each optionally
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
from cdp_pipelines.sources.couriers import landed_files, sha256_of
from cdp_pipelines.sources.domain import INGEST_LOG_TABLE
from cdp_pipelines.stitch.inputs import PK_SEPARATOR
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import FeedSpec, FormatSpec

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

# A row (as a dict of file column -> text) -> drop it?
RowTest = Callable[[dict], bool]


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
    return None


def _rewrite(path: Path, fmt: FormatSpec | None, drop: RowTest, blank: set[str] | None,
             outcome: FileOutcome, label: str) -> None:
    """Rewrite one file; ``blank`` (columns) blanks matching rows' fields instead of
    dropping them."""
    gz = path.name.endswith(".gz")
    kind = _text_kind(path, fmt)
    compression = fmt.compression if fmt else "auto"
    if kind is None or compression not in ("auto", "none", "gzip") or (fmt and fmt.pgp):
        data = path.read_bytes()
        # Only a file that holds nothing of the person may stay as it is.
        if drop({"_bytes": data.decode("utf-8", "replace")}):
            outcome.failed[label] = "format not rewritable by privacy (binary, archive or PGP)"
        return
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    text = raw.decode(fmt.encoding if fmt else "utf-8")
    changed = 0
    if kind == "jsonl":
        lines = []
        for line in text.splitlines():
            record = json.loads(line) if line.strip() else None
            if isinstance(record, dict) and drop(record):
                changed += 1
                if blank is None:
                    continue
                record = {k: (None if k in blank else v) for k, v in record.items()}
                line = json.dumps(record)
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
            if drop(row):
                changed += 1
                if blank is None:
                    continue
                row = {k: ("" if k in blank else v) for k, v in row.items()}
            writer.writerow(row)
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


def _feed_test(feed: FeedSpec, matches: list[Match]) -> RowTest:
    """A landed row of ``feed`` belongs to a matched person: by its primary key, a
    customer key pointing at a matched record, or an identifying value."""
    pks = {pk for m in matches for (s, pk) in m.records if s == feed.name}
    refs = [(f.file_column, {pk for m in matches for (s, pk) in m.records
                             if s == f.references}) for f in feed.fields_tagged("customer-key")]
    pk_columns = [feed.field(k).file_column for k in feed.primary_key]
    values = _cell_test(set().union(*(m.values for m in matches)) if matches else set())

    def hit(row: dict) -> bool:
        if "_bytes" in row:
            text = row["_bytes"].lower()
            return any(v in text for m in matches for v in m.values)
        pk = PK_SEPARATOR.join(str(row.get(c, "") or "").strip() for c in pk_columns)
        if pk in pks:
            return True
        if any(str(row.get(c, "") or "").strip() in keys for c, keys in refs):
            return True
        return values(row)

    return hit


def rewrite_landing(lake: "DeltaLake", config: Tenant, matches: list[Match], action: str,
                    outcome: FileOutcome) -> None:
    """Every feed's landed files, without (or with blanked PII of) the matched people."""
    deployment = lake.deployment
    for source, feed in config.feeds:
        courier = next(c for c in source.couriers if c.name == feed.courier)
        landing = Path(deployment.check_writable(deployment.path(
            "landing", source.name, courier.name)))
        blank = ({feed.field(c).file_column for c in feed.pii_columns}
                 if action == "delete_pii" else None)
        test = _feed_test(feed, matches)
        for landed in landed_files(courier, landing):
            label = f"landing/{source.name}/{courier.name}/{landed.relpath}"
            before = len(outcome.rewritten)
            _rewrite(landed.path, courier.format, test, blank, outcome, label)
            if len(outcome.rewritten) > before:
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

    def hit(row: dict) -> bool:
        if "_bytes" in row:
            return any(v in row["_bytes"].lower() for v in values)
        return test(row)

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(".DONE") or path.name.startswith("."):
            continue
        _rewrite(path, None, hit, None, outcome, f"outbox/{path.relative_to(root).as_posix()}")
