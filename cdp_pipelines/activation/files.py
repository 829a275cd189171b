"""Render delivery rows to file bytes: format, then compression, then PGP encryption.

Output is deterministic for the same rows (gzip and zip carry a fixed timestamp), so the
bytes of a re-rendered file hash the same before encryption. PGP output is randomised by
design, which is why deliveries are keyed on :func:`content_sha256` of the rows, not on
file bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import string
import zipfile
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from cdp_pipelines.transports import PgpOptions

FORMATS = ("csv", "tsv", "jsonl", "parquet")
COMPRESSIONS = ("none", "gzip", "zip")
FILENAME_TOKENS = ("campaign", "treatment", "orchestration", "date", "ext")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class FileRenderError(ValueError):
    """A filename template or rendering option is wrong; the message names it."""


def extension(fmt: str, compression: str, encrypted: bool) -> str:
    """``.csv``, ``.csv.gz``, ``.zip``, ``.jsonl.gz.pgp``... for the ``{ext}`` token."""
    ext = f".{fmt}"
    if compression == "gzip":
        ext += ".gz"
    elif compression == "zip":
        ext = ".zip"
    return ext + (".pgp" if encrypted else "")


def check_filename_template(template: str) -> str:
    """Refuse unknown tokens and bad date formats up front (at config load)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise FileRenderError(f"filename {template!r}: {exc}") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FILENAME_TOKENS:
            raise FileRenderError(
                f"filename {template!r}: unknown token {{{field}}}; use "
                + ", ".join(f"{{{t}}}" for t in FILENAME_TOKENS)
                + " (date takes a strftime format, e.g. {date:%Y%m%d})"
            )
        if conversion or (spec and field != "date"):
            raise FileRenderError(
                f"filename {template!r}: only {{date}} takes a format (e.g. {{date:%Y%m%d}})"
            )
    return template


def render_filename(
    template: str,
    *,
    campaign: str,
    treatment: str,
    orchestration: str,
    delivery_date: date,
    ext: str,
) -> str:
    check_filename_template(template)
    name = template.format(
        campaign=campaign,
        treatment=treatment,
        orchestration=orchestration,
        date=delivery_date,
        ext=ext,
    )
    if not name.strip("/") or name.endswith("/"):
        raise FileRenderError(f"filename {template!r} renders to {name!r}, not a file name")
    return name


def _jsonable(value: Any) -> Any:
    import pandas as pd

    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def records(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing values are null, timestamps ISO strings."""
    columns = list(frame.columns)
    return [
        {column: _jsonable(value) for column, value in zip(columns, row)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _json_line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_order(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The rows in an order that depends only on their values, so batches are repeatable."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = [_json_line(record) for record in records(frame)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return frame.iloc[order].reset_index(drop=True)


def content_sha256(frame: "pd.DataFrame") -> str:
    """A hash of the rows' columns and values, independent of row order and file format."""
    digest = hashlib.sha256(_json_line({"columns": list(frame.columns)}).encode())
    for line in sorted(_json_line(record) for record in records(frame)):
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def render(frame: "pd.DataFrame", fmt: str) -> bytes:
    """The rows in ``fmt``: CSV/TSV with a header, JSON Lines, or Parquet (pyarrow)."""
    if fmt in ("csv", "tsv"):
        return frame.to_csv(
            index=False, sep="," if fmt == "csv" else "\t", lineterminator="\n"
        ).encode("utf-8")
    if fmt == "jsonl":
        return "".join(_json_line(record) + "\n" for record in records(frame)).encode("utf-8")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
        return sink.getvalue()
    raise FileRenderError(f"format {fmt!r} is not one of {FORMATS}")


def compress(data: bytes, compression: str, member_name: str) -> bytes:
    """gzip, or a zip archive holding one member called ``member_name``."""
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zip":
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo(member_name, date_time=_ZIP_TIME), data,
                             compress_type=zipfile.ZIP_DEFLATED)
        return sink.getvalue()
    raise FileRenderError(f"compression {compression!r} is not one of {COMPRESSIONS}")


def render_file(
    frame: "pd.DataFrame",
    *,
    fmt: str,
    compression: str,
    file_name: str,
    pgp: PgpOptions | None = None,
) -> bytes:
    """The bytes of one delivery file named ``file_name``, encrypted when ``pgp`` is given
    (``public_key_file``, ``armor``)."""
    data = compress(render(frame, fmt), compression, _member_name(file_name, fmt))
    if pgp:
        from cdp_pipelines.transports import Pgp

        data = Pgp.from_options(pgp).encrypt(data)
    return data


def _member_name(file_name: str, fmt: str) -> str:
    base = file_name.rsplit("/", 1)[-1]
    for suffix in (".pgp", ".gpg", ".zip"):
        base = base.removesuffix(suffix)
    return base if base.endswith(f".{fmt}") else f"{base}.{fmt}"
