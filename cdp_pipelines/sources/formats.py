"""Read one landed file into a Spark DataFrame of text columns, keeping malformed rows.

Every column comes back as a string (typing happens later, per field, so a bad value
quarantines its row instead of failing the load). Beside the feed's file columns a frame
has three columns:

- ``_corrupt_record``: the raw text of a row the reader could not parse (a CSV row with
  the wrong number of fields, a JSON line that does not parse or is not an object, a
  line that is not valid in the declared encoding, the lost tail of a truncated gzip);
- ``_line_number``: the row's physical line in the file (or archive member), 1-based;
  Parquet/Avro: the row's position;
- ``_read_error``: why the row could not be read (NULL for a parsed row).

Before parsing, a landed file is decrypted (``format.pgp``) and unpacked (gzip, zip, tar,
tgz; archive members chosen by ``format.member_pattern``) into a per-process temporary
directory, never beside the landed file: a sandbox reads production's landing read-only.
JSON fields are read by a declared path: ``source_column: address.city`` is the ``city``
of the ``address`` object. A file that cannot be read at all raises
:class:`UnreadableFileError` naming the file and the cause.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import fnmatch
import gzip
import io
import json
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from cdp_pipelines.resources.lake_files import LakePath, local_copy
from cdp_pipelines.tenant.sources import FeedSpec, FormatSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CORRUPT = "_corrupt_record"
LINE = "_line_number"
READ_ERROR = "_read_error"
TEXT_FORMATS = ("csv", "tsv", "psv", "jsonl")
_PGP_SUFFIXES = (".pgp", ".gpg", ".asc")
# Not named _corrupt_record on disk: Spark's JSON reader reserves that name.
_ERRORS_SCHEMA = "line long, record string, reason string"
_work_root: Path | None = None


class UnreadableFileError(ValueError):
    """A file that cannot be read at all (missing columns, not the declared format)."""


@dataclass(frozen=True)
class _Part:
    """One readable piece of a landed file: the file itself or one archive member."""

    path: Path
    # gzip-compressed: decompressed while streaming (a truncated one is unreadable).
    gzip: bool
    member: str | None

    def label(self, landed: Path) -> str:
        return f"{landed} (member {self.member})" if self.member else str(landed)


def _workdir() -> Path:
    """A fresh directory for one read; all of them go when the process ends."""
    global _work_root
    if _work_root is None:
        _work_root = Path(tempfile.mkdtemp(prefix="cdp-read-"))
        atexit.register(shutil.rmtree, _work_root, True)
    return Path(tempfile.mkdtemp(dir=_work_root))


def compression_of(path: Path, fmt: FormatSpec) -> str:
    if fmt.compression != "auto":
        return fmt.compression
    name = path.name.lower()
    for suffix in _PGP_SUFFIXES:
        if fmt.pgp and name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".tgz", ".tar.gz")):
        return "tgz"
    for suffix, kind in ((".gz", "gzip"), (".gzip", "gzip"), (".zip", "zip"), (".tar", "tar")):
        if name.endswith(suffix):
            return kind
    return "none"


def _decrypt(path: Path, fmt: FormatSpec, work: Path) -> Path:
    from cdp_pipelines.transports import Pgp, PgpError

    name = path.name
    for suffix in _PGP_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    target = work / "decrypted" / name
    target.parent.mkdir(parents=True)
    try:
        Pgp.from_options(fmt.pgp).decrypt_file(path, target)
    except PgpError as exc:
        raise UnreadableFileError(f"{path}: cannot be decrypted with the configured PGP key: "
                                  f"{exc}") from exc
    return target


def _member_wanted(name: str, fmt: FormatSpec) -> bool:
    return fmt.member_pattern is None or fnmatch.fnmatchcase(name, fmt.member_pattern)


def _safe_member_path(root: Path, name: str, archive: Path) -> Path:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts:
        raise UnreadableFileError(f"{archive}: member {name!r} would unpack outside its "
                                  "directory; refusing the archive")
    return root.joinpath(*parts)


def _extract(path: Path, kind: str, fmt: FormatSpec, work: Path, landed: Path) -> list[_Part]:
    root = work / "members"
    parts = []
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if info.is_dir() or not _member_wanted(info.filename, fmt):
                        continue
                    target = _safe_member_path(root, info.filename, landed)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, target.open("wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    parts.append(_Part(target, False, info.filename))
        else:
            with tarfile.open(path, "r:gz" if kind == "tgz" else "r:") as archive:
                for info in archive:
                    if not info.isfile() or not _member_wanted(info.name, fmt):
                        continue
                    target = _safe_member_path(root, info.name, landed)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.extractfile(info) as src, target.open("wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    parts.append(_Part(target, False, info.name))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnreadableFileError(f"{landed}: cannot be unpacked as {kind}: {exc}") from exc
    if not parts:
        raise UnreadableFileError(
            f"{landed}: no file in the {kind} archive matches member_pattern "
            f"{fmt.member_pattern!r}" if fmt.member_pattern else f"{landed}: the {kind} archive "
            "holds no file")
    return sorted(parts, key=lambda p: p.member or "")


def prepare(path: LakePath, fmt: FormatSpec) -> list[_Part]:
    """Decrypt and unpack ``path`` as declared; the readable parts, in member order."""
    if not path.is_file():
        raise UnreadableFileError(f"{path}: no such landed file")
    work = _workdir()
    # A file landed on an object store is read from a copy on this machine.
    local = local_copy(path, work / "landed")
    current = _decrypt(local, fmt, work) if fmt.pgp else local
    kind = compression_of(path, fmt)
    if kind in ("zip", "tar", "tgz"):
        return _extract(current, kind, fmt, work, path)
    return [_Part(current, kind == "gzip", None)]


@contextmanager
def _open_bytes(part: _Part) -> Iterator[BinaryIO]:
    with (gzip.open(part.path, "rb") if part.gzip else part.path.open("rb")) as stream:
        yield stream


def _ascii_compatible(encoding: str) -> bool:
    return codecs.lookup(encoding).name not in (
        "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")


def _decoded_lines(part: _Part, fmt: FormatSpec, landed: Path,
                   errors: list[dict]) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of every line; bad ones go to ``errors`` with the reason."""
    where = part.label(landed)
    number = 0
    try:
        with _open_bytes(part) as stream:
            if not _ascii_compatible(fmt.encoding):
                # Newlines are multi-byte here: decode the stream, not single lines.
                for number, text in enumerate(io.TextIOWrapper(stream, fmt.encoding), 1):
                    yield number, text.rstrip("\r\n")
                return
            first_encoding = "utf-8-sig" if codecs.lookup(fmt.encoding).name == "utf-8" else (
                fmt.encoding)
            for number, raw in enumerate(stream, 1):
                raw = raw.rstrip(b"\r\n")
                try:
                    yield number, raw.decode(first_encoding if number == 1 else fmt.encoding)
                except UnicodeDecodeError as exc:
                    errors.append({"line": number, "record": raw.decode(fmt.encoding, "replace"),
                                   "reason": f"bad encoding: not valid {fmt.encoding} "
                                               f"(byte {raw[exc.start]:#04x} at column "
                                               f"{exc.start + 1})"})
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if number == 0:
            raise UnreadableFileError(f"{where}: cannot be read: {exc}") from exc
        # A partial file is not a delivery: nothing of it loads until it comes whole.
        raise UnreadableFileError(f"{where}: truncated or corrupt archive after line "
                                  f"{number}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{where}: not valid {fmt.encoding} near line {number + 1}: "
                                  f"{exc.reason}") from exc


def _csv_header(text: str, fmt: FormatSpec) -> list[str]:
    sep = fmt.field_delimiter
    if len(sep) != 1:
        return [c.strip('"') for c in text.split(sep)]
    escape = None if fmt.escape == fmt.quote else fmt.escape
    return next(csv.reader([text], delimiter=sep, quotechar=fmt.quote, escapechar=escape))


def _numbered_copy(part: _Part, fmt: FormatSpec, landed: Path, work: Path,
                   separator: str) -> tuple[Path, list[str] | None, Path | None]:
    """Write ``<line><separator><text>`` lines as UTF-8; returns (file, CSV header, errors)."""
    errors: list[dict] = []
    out_path = work / "numbered.txt"
    header = None
    csv_header = fmt.type != "jsonl" and fmt.header
    with out_path.open("w", encoding="utf-8", newline="\n") as out:
        for number, text in _decoded_lines(part, fmt, landed, errors):
            if csv_header and header is None:
                header = _csv_header(text, fmt)
                continue
            if text.strip():
                out.write(f"{number}{separator}{text}\n")
    if csv_header and header is None:
        raise UnreadableFileError(f"{part.label(landed)}: empty file, no header line")
    errors_path = None
    if errors:
        errors_path = work / "errors.jsonl"
        with errors_path.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
    return out_path, header, errors_path


def _java_literal(text: str) -> str:
    return "\\Q" + text + "\\E"


def _read_csv(spark: "SparkSession", numbered: Path, header: list[str],
              fmt: FormatSpec) -> "DataFrame":
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    sep = fmt.field_delimiter
    schema = StructType([StructField(c, StringType()) for c in [LINE, *header, CORRUPT]])
    df = (spark.read.schema(schema)
          .options(header="false", sep=sep, quote=fmt.quote, escape=fmt.escape,
                   encoding="utf-8", lineSep="\n", multiLine="false", mode="PERMISSIVE",
                   columnNameOfCorruptRecord=CORRUPT,
                   # A query that reads only some columns must still see a row with the
                   # wrong number of fields as malformed: with pruning the parser only
                   # tokenizes the columns asked for, and never counts the rest.
                   columnPruning="false")
          .csv(str(numbered)))
    # The line number is this reader's own first field: strip it from the raw text again.
    prefix = "^(\\d+)" + _java_literal(sep)
    line = F.coalesce(F.col(LINE), F.regexp_extract(F.col(CORRUPT), prefix, 1)).cast("long")
    return df.select(*[F.col(f"`{c}`") for c in header],
                     F.regexp_replace(F.col(CORRUPT), prefix, "").alias(CORRUPT),
                     line.alias(LINE),
                     F.when(F.col(CORRUPT).isNotNull(),
                            F.lit("malformed CSV row: wrong number of fields or bad quoting"))
                     .alias(READ_ERROR))


def json_path(file_column: str) -> str:
    """A declared path (``address.city``) as a JSON path (``$['address']['city']``)."""
    steps = "".join("['" + part.replace("'", "\\'") + "']" for part in file_column.split("."))
    return "$" + steps


def _read_jsonl(spark: "SparkSession", numbered: Path, wanted: list[str]) -> "DataFrame":
    from pyspark.sql import functions as F

    lines = spark.read.options(lineSep="\n").text(str(numbered))
    text = F.expr("substr(value, instr(value, '\t') + 1)")
    df = lines.select(F.substring_index("value", "\t", 1).cast("long").alias(LINE),
                      text.alias("_text")).withColumn("_v", F.try_parse_json("_text"))
    is_object = F.col("_v").isNotNull() & F.ltrim(F.col("_text")).startswith("{")

    def field(column: str) -> "Column":
        return F.when(is_object, F.try_variant_get(F.col("_v"), json_path(column), "string"))

    return df.select(*[field(c).alias(c) for c in wanted],
                     F.when(~is_object, F.col("_text")).alias(CORRUPT),
                     F.col(LINE),
                     F.when(F.col("_v").isNull(), F.lit("malformed JSON line: does not parse"))
                     .when(~is_object, F.lit("malformed JSON line: not a JSON object"))
                     .alias(READ_ERROR))


def _avro_to_parquet(part: _Part, landed: Path, work: Path) -> Path:
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = work / "avro.parquet"
    writer = None
    try:
        with _open_bytes(part) as stream:
            reader = fastavro.reader(stream)
            batch: list[dict] = []

            def flush() -> None:
                nonlocal writer
                table = pa.Table.from_pylist(batch)
                if writer is None:
                    writer = pq.ParquetWriter(target, table.schema, coerce_timestamps="us",
                                              allow_truncated_timestamps=True)
                writer.write_table(table.cast(writer.schema))
                batch.clear()

            for record in reader:
                batch.append(record)
                if len(batch) >= 50_000:
                    flush()
            if batch:
                flush()
            if writer is None:
                names = [f["name"] for f in reader.writer_schema.get("fields", [])]
                pq.write_table(pa.table({n: pa.array([], pa.string()) for n in names}), target)
    except (ValueError, EOFError, OSError, StopIteration, TypeError) as exc:
        raise UnreadableFileError(f"{part.label(landed)}: cannot be read as avro: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()
    return target


def _read_columnar(spark: "SparkSession", path: Path, wanted: list[str],
                   where: str) -> "DataFrame":
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    df = spark.read.parquet(str(path))
    columns = []
    for name in wanted:
        # A top-level column wins; else a dotted name is a path into nested structs.
        column = F.col(f"`{name}`") if name in df.columns else F.col(name)
        try:
            data_type = df.select(column).schema[0].dataType
        except AnalysisException:
            raise UnreadableFileError(f"{where}: column {name!r} is not in the file (it has "
                                      f"{df.columns})") from None
        nested = isinstance(data_type, (StructType, ArrayType, MapType))
        columns.append((F.to_json(column) if nested else column.cast("string")).alias(name))
    return df.select(*columns, F.lit(None).cast("string").alias(CORRUPT),
                     (F.col("_metadata.row_index") + 1).alias(LINE),
                     F.lit(None).cast("string").alias(READ_ERROR))


def _read_part(spark: "SparkSession", part: _Part, fmt: FormatSpec, feed: FeedSpec,
               landed: Path) -> "DataFrame":
    from pyspark.sql import functions as F

    wanted = [f.file_column for f in feed.fields]
    where = part.label(landed)
    work = _workdir()
    if fmt.type in ("parquet", "avro"):
        if fmt.type == "avro":
            source = _avro_to_parquet(part, landed, work)
        elif part.gzip:
            source = work / "decompressed.parquet"
            try:
                with _open_bytes(part) as src, source.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                raise UnreadableFileError(f"{where}: cannot be decompressed: {exc}") from exc
        else:
            source = part.path
        return _read_columnar(spark, source, wanted, where)

    separator = "\t" if fmt.type == "jsonl" else fmt.field_delimiter
    numbered, header, errors = _numbered_copy(part, fmt, landed, work, separator)
    if fmt.type == "jsonl":
        df = _read_jsonl(spark, numbered, wanted)
    else:
        header = header if fmt.header else wanted
        missing = [c for c in wanted if c not in header]
        if missing:
            raise UnreadableFileError(
                f"{where}: columns {missing} declared in feed {feed.name!r} are not in the "
                f"file (it has {header})")
        df = _read_csv(spark, numbered, header, fmt)
    df = df.select(*[F.col(f"`{c}`") for c in wanted], CORRUPT, LINE, READ_ERROR)
    if errors is not None:
        bad = spark.read.schema(_ERRORS_SCHEMA).json(str(errors)).select(
            F.col("line").alias(LINE), F.col("record").alias(CORRUPT),
            F.col("reason").alias(READ_ERROR))
        df = df.unionByName(bad, allowMissingColumns=True)
    return df


def read_raw(spark: "SparkSession", path: LakePath, fmt: FormatSpec, feed: FeedSpec) -> "DataFrame":
    """Read ``path`` as declared by ``fmt``; the feed's file columns as text, plus
    ``_corrupt_record``, ``_line_number`` and ``_read_error``."""
    from pyspark.sql import functions as F

    frames = []
    for part in prepare(path, fmt):
        try:
            frames.append(_read_part(spark, part, fmt, feed, path))
        except UnreadableFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - Spark raises many kinds; say which file
            raise UnreadableFileError(f"{part.label(path)}: cannot be read as {fmt.type}: "
                                      f"{exc}") from exc
    df = frames[0]
    for frame in frames[1:]:
        df = df.unionByName(frame)
    wanted = [f.file_column for f in feed.fields]
    return df.select(*[F.col(f"`{c}`") for c in wanted], F.col(CORRUPT), F.col(LINE),
                     F.col(READ_ERROR))
