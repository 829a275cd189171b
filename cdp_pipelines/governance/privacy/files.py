"""Rewrite raw files without a deleted person's rows (or with their PII fields blanked):
the landing files kept for replay (:mod:`.landing` decides whose rows), and the outbox
files of deliveries.

A file is rewritten in the form it came in: CSV/TSV/PSV with a header, JSON lines and
Parquet, each optionally gzipped; zip and tar (``.tgz`` too) archives member by member,
packed again with the same member names; PGP-encrypted files decrypted with the courier's
key, rewritten, and encrypted again for the same key. A file that cannot be rewritten (a
format privacy cannot read, PGP without its private key) is kept as it is, reported as
*not replayable* with the reason (a dot-file marker beside it, so it is reported once),
and never fails the request: its rows are dropped by ingest's suppression should it ever
be loaded again.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import json
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from cdp_pipelines.governance.privacy.matching import Match
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.formats import compression_of
from cdp_pipelines.tenant.sources import FormatSpec

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

# A row (as a dict of file column -> value) -> "drop", "blank" (its PII) or None.
RowTest = Callable[[dict], "str | None"]
DROP, BLANK = "drop", "blank"
NOT_REPLAYABLE_SUFFIX = ".not-replayable"


@dataclass
class FileOutcome:
    rewritten: dict[str, int] = field(default_factory=dict)  # file -> rows changed
    failed: dict[str, str] = field(default_factory=dict)  # file -> error
    not_replayable: dict[str, str] = field(default_factory=dict)  # file -> why


class NotRewritable(Exception):
    """A file privacy cannot rewrite; the message says why."""


def _text_kind(name: str, fmt: FormatSpec | None) -> str | None:
    name = name.removesuffix(".gz")
    kind = fmt.type if fmt else name.rsplit(".", 1)[-1]
    if kind in ("csv", "tsv", "psv") and (fmt is None or fmt.header):
        return kind
    if kind in ("jsonl", "json", "ndjson"):
        return "jsonl"
    if kind == "parquet":
        return "parquet"
    return None


def _container(path: Path, fmt: FormatSpec | None) -> str:
    if fmt is not None:
        return compression_of(path, fmt)
    return compression_of(path, FormatSpec())


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.privacy")
    tmp.write_bytes(data)
    tmp.replace(path)


class _Rows:
    """Applies a row test, counting the rows it changes."""

    def __init__(self, test: RowTest, blank: set[str]) -> None:
        self.test, self.blank, self.changed = test, blank, 0

    def __call__(self, row: dict, empty: object) -> dict | None:
        verdict = self.test(row)
        if verdict == DROP:
            self.changed += 1
            return None
        if verdict == BLANK and any(row.get(c) not in (None, "") for c in self.blank):
            self.changed += 1
            return {k: (empty if k in self.blank else v) for k, v in row.items()}
        return row


def _rewrite_text(raw: bytes, kind: str, fmt: FormatSpec | None, rows: _Rows) -> bytes:
    text = raw.decode(fmt.encoding if fmt else "utf-8")
    if kind == "jsonl":
        lines = []
        for line in text.splitlines():
            record = json.loads(line) if line.strip() else None
            if isinstance(record, dict):
                kept = rows(record, None)
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
            kept = rows(row, "")
            if kept is not None:
                writer.writerow(kept)
        out = buffer.getvalue()
    return out.encode(fmt.encoding if fmt else "utf-8")


def _rewrite_plain(path: Path, fmt: FormatSpec | None, rows: _Rows, gz: bool) -> int:
    kind = _text_kind(path.name, fmt)
    if kind is None:
        # Only a file that holds nothing of the person may stay as it is.
        if rows.test({"_bytes": path.read_bytes().decode("utf-8", "replace")}):
            raise NotRewritable(f"its format ({fmt.type if fmt else path.suffix or 'unknown'})"
                                " cannot be rewritten by privacy")
        return 0
    before = rows.changed
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        if gz:
            raise NotRewritable("a gzipped Parquet file cannot be rewritten by privacy")
        table = pq.read_table(path)
        kept = [r for r in (rows(r, None) for r in table.to_pylist()) if r is not None]
        if rows.changed > before:
            tmp = path.with_name(f".{path.name}.privacy")
            pq.write_table(pa.Table.from_pylist(kept, schema=table.schema), tmp)
            tmp.replace(path)
        return rows.changed - before
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    data = _rewrite_text(raw, kind, fmt, rows)
    if rows.changed > before:
        _replace(path, gzip.compress(data, mtime=0) if gz else data)
    return rows.changed - before


def _member_wanted(name: str, fmt: FormatSpec | None) -> bool:
    return fmt is None or fmt.member_pattern is None or \
        fnmatch.fnmatchcase(name, fmt.member_pattern)


def _rewrite_archive(path: Path, kind: str, fmt: FormatSpec | None, rows: _Rows) -> int:
    """Each member rewritten in a scratch directory, then the archive packed again with
    the same member names (and order); members the courier does not read stay as they are."""
    inner = fmt.model_copy(update={"compression": "auto", "pgp": None}) if fmt else None
    before = rows.changed
    with tempfile.TemporaryDirectory(prefix="cdp-privacy-") as scratch:
        work = Path(scratch)
        tmp = path.with_name(f".{path.name}.privacy")
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
                files = {}
                for i, info in enumerate(members):
                    if info.is_dir() or not _member_wanted(info.filename, fmt):
                        continue
                    # A scratch name of our own: a member's path never leaves the directory.
                    target = work / str(i) / Path(info.filename).name
                    target.parent.mkdir()
                    target.write_bytes(archive.read(info))
                    _rewrite_any(target, inner, rows)
                    files[i] = target
                if rows.changed == before:
                    return 0
                with zipfile.ZipFile(tmp, "w") as out:
                    for i, info in enumerate(members):
                        data = files[i].read_bytes() if i in files else archive.read(info)
                        out.writestr(info, data, compress_type=info.compress_type)
        else:
            with tarfile.open(path, "r:gz" if kind == "tgz" else "r:") as archive:
                members = archive.getmembers()
                files = {}
                for i, info in enumerate(members):
                    if not info.isfile() or not _member_wanted(info.name, fmt):
                        continue
                    target = work / str(i) / Path(info.name).name
                    target.parent.mkdir()
                    with archive.extractfile(info) as src:
                        target.write_bytes(src.read())
                    _rewrite_any(target, inner, rows)
                    files[i] = target
                if rows.changed == before:
                    return 0
                with tarfile.open(tmp, "w:gz" if kind == "tgz" else "w") as out:
                    for i, info in enumerate(members):
                        if i in files:
                            data = files[i].read_bytes()
                            info.size = len(data)
                            out.addfile(info, io.BytesIO(data))
                        elif info.isfile():
                            with archive.extractfile(info) as src:
                                out.addfile(info, src)
                        else:
                            out.addfile(info)
        tmp.replace(path)
    return rows.changed - before


def _rewrite_pgp(path: Path, fmt: FormatSpec, rows: _Rows) -> int:
    from cdp_pipelines.transports import Pgp
    from cdp_pipelines.transports.base import TransportConfigError, TransportError

    name = path.name
    for suffix in (".pgp", ".gpg", ".asc"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    before = rows.changed
    with tempfile.TemporaryDirectory(prefix="cdp-privacy-") as scratch:
        plain = Path(scratch) / name
        try:
            pgp = Pgp.from_options(fmt.pgp)
            pgp.decrypt_file(path, plain)
        except (TransportError, TransportConfigError) as exc:
            raise NotRewritable(f"it is PGP-encrypted and cannot be decrypted here ({exc})") \
                from None
        _rewrite_any(plain, fmt.model_copy(update={"pgp": None}), rows)
        if rows.changed == before:
            return 0
        armored = path.read_bytes()[:64].lstrip().startswith(b"-----BEGIN PGP")
        tmp = path.with_name(f".{path.name}.privacy")
        pgp.reencrypt_file(plain, tmp, armor=armored)
        tmp.replace(path)
    return rows.changed - before


def _rewrite_any(path: Path, fmt: FormatSpec | None, rows: _Rows) -> None:
    if fmt is not None and fmt.pgp is not None:
        _rewrite_pgp(path, fmt, rows)
        return
    kind = _container(path, fmt)
    if kind in ("zip", "tar", "tgz"):
        _rewrite_archive(path, kind, fmt, rows)
    elif kind in ("none", "gzip"):
        _rewrite_plain(path, fmt, rows, gz=kind == "gzip")
    else:
        raise NotRewritable(f"compression {kind!r} cannot be rewritten by privacy")


def rewrite_file(path: Path, fmt: FormatSpec | None, test: RowTest, blank: set[str],
                 outcome: FileOutcome, label: str, log=None) -> None:
    """Rewrite one file in its own format: rows ``test`` says ``drop`` go, rows it says
    ``blank`` keep their ``blank`` columns empty. A file privacy cannot rewrite is marked
    not replayable (once) and logged with the reason."""
    from cdp_pipelines.sources.couriers import sha256_of

    marker = path.with_name(f".{path.name}{NOT_REPLAYABLE_SUFFIX}")
    if marker.exists() and marker.read_text().split("\n", 1)[0] == sha256_of(path):
        return  # reported when it was marked; the file has not changed since
    rows = _Rows(test, blank)
    try:
        _rewrite_any(path, fmt, rows)
    except NotRewritable as exc:
        reason = (f"{exc}; it is kept as received, not replayable as it is (ingest's "
                  "suppression still drops the deleted people's rows if it is loaded again)")
        marker.write_text(f"{sha256_of(path)}\n{reason}\n")
        outcome.not_replayable[label] = reason
        if log is not None:
            log.warning(f"privacy: {label} not rewritten: {reason}")
        return
    except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError) as exc:
        outcome.failed[label] = f"{type(exc).__name__}: {exc}"
        return
    if rows.changed:
        outcome.rewritten[label] = rows.changed


def cell_test(values: set[str]) -> RowTest:
    """A row any cell of which is one of ``values`` (lower-cased), or a long text holding
    one (a JSON record)."""
    def hit(row: dict) -> str | None:
        if "_bytes" in row:
            return DROP if any(v in row["_bytes"].lower() for v in values) else None
        for value in row.values():
            if value is None:
                continue
            text = str(value).strip().lower()
            if text in values or (len(text) > 200 and any(f'"{v}"' in text or v in text
                                                           for v in values)):
                return DROP
        return None

    return hit


def rewrite_outbox(lake: "DeltaLake", matches: list[Match], outcome: FileOutcome,
                   log=None) -> None:
    """Files delivered to the deployment's outbox (a sandbox's deliveries), without the
    matched people's rows (by amperity_id or identifying value)."""
    root = lake_path(lake.deployment.path("outbox"))
    if not root.is_dir():
        return
    values = set().union(*(m.values | {a.lower() for a in m.amperity_ids} for m in matches))
    test = cell_test(values)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(".DONE") or path.name.startswith("."):
            continue
        rewrite_file(path, None, test, set(), outcome,
                     f"outbox/{path.relative_to(root).as_posix()}", log)
