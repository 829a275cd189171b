"""Privacy requests: parsed, checked and stored in one Delta table, whichever way they came.

A request is ``request_id``, ``type`` (dsar | delete | delete_pii), ``strategy`` (exact |
connected; default exact), ``received`` (a date) and at least one identifier: ``email``,
``phone``, ``address`` with ``postal`` (the address group), or a key ``privacy.yaml``
configures (``loyalty_id``). A feed file (a ``privacy-request`` source's courier: JSON
lines, or CSV with a header) gives identifiers as columns or as an ``identifiers``
object; ``cdp privacy request`` gives them as options. Both land in
``_system/privacy/requests``. A malformed request goes to ``_system/privacy/rejected`` with
its reason (and the names of the fields it had, never their values) and nothing of it is
applied. Once applied, a request's identifiers are replaced by their salted hashes, in
the table and in the landed file (:func:`write_request_file`), whose line then says its
``status``: such a line is skipped when the file is read again.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp_pipelines.governance.privacy.suppression import normalise, table_parts
from cdp_pipelines.tenant.privacy import PrivacySpec

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

REQUEST_TYPES = ("dsar", "delete", "delete_pii")
STRATEGIES = ("exact", "connected")
REQUESTS_TABLE = "requests"
REJECTED_TABLE = "rejected"
RECEIVED, APPLIED, FAILED, PARTIAL = "received", "applied", "failed", "partially applied"
REJECTED = "rejected"
# A scrubbed request line's identifiers: JSON of identifier name -> salted hash.
HASHED_FIELD = "identifiers_hashed"
_FIELDS = ("request_id", "type", "strategy", "received", "identifiers")
REQUESTS_SCHEMA = ("request_id string, type string, strategy string, identifiers string, "
                   "received date, origin string, status string, submitted_at timestamp, "
                   "applied_at timestamp, detail string")
REJECTED_SCHEMA = ("request_id string, origin string, reason string, fields string, "
                   "rejected_at timestamp")


class RequestError(ValueError):
    """A request is malformed; the message says why without repeating any identifier."""


@dataclass(frozen=True)
class PrivacyRequest:
    request_id: str
    type: str
    strategy: str
    identifiers: dict[str, str]
    received: date
    origin: str


def identifier_names(spec: PrivacySpec | None) -> tuple[str, ...]:
    return spec.identifier_names if spec else ("email", "phone", "address", "postal")


def parse_request(raw: Mapping[str, Any], spec: PrivacySpec | None,
                  origin: str) -> PrivacyRequest:
    """A checked request from a record; :class:`RequestError` says what is wrong."""
    names = identifier_names(spec)
    raw = {k: v for k, v in raw.items() if v not in (None, "")}
    nested = raw.pop("identifiers", None) or {}
    if not isinstance(nested, Mapping):
        raise RequestError("identifiers must be an object of identifier name to value")
    unknown = sorted(set(raw) - set(_FIELDS) - set(names)) + sorted(set(nested) - set(names))
    if unknown:
        raise RequestError(f"unknown field(s) {unknown}; a request has {list(_FIELDS[:4])} "
                           f"and identifiers {list(names)}")
    request_id = str(raw.get("request_id", "")).strip()
    if not request_id:
        raise RequestError("request_id is missing")
    kind = str(raw.get("type", "")).strip()
    if kind not in REQUEST_TYPES:
        raise RequestError(f"type must be one of {list(REQUEST_TYPES)}, got {kind!r}")
    strategy = str(raw.get("strategy", "exact")).strip()
    if strategy not in STRATEGIES:
        raise RequestError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    try:
        received = date.fromisoformat(str(raw.get("received", "")).strip()[:10])
    except ValueError:
        raise RequestError("received must be a date (YYYY-MM-DD)") from None
    identifiers = {k: str(v).strip() for k, v in {**raw, **nested}.items()
                   if k in names and str(v).strip()}
    if not identifiers:
        raise RequestError(f"no identifier: name at least one of {list(names)}")
    if ("address" in identifiers) != ("postal" in identifiers):
        raise RequestError("address and postal go together (the address group)")
    for kind_name in ("email", "phone"):
        if kind_name in identifiers and normalise(kind_name, identifiers[kind_name]) is None:
            raise RequestError(f"{kind_name} is not a valid {kind_name}")
    if "address" in identifiers and normalise(
            "address", f"{identifiers['address']}|{identifiers['postal']}") is None:
        raise RequestError("address/postal cannot be read as an address")
    return PrivacyRequest(request_id, kind, strategy, identifiers, received, origin)


def read_request_file(path: Path) -> list[dict[str, Any]]:
    """The records of a request file: JSON lines, or CSV with a header (``.gz`` too)."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"_unparsable": True}
            out.append(record if isinstance(record, dict) else {"_unparsable": True})
        return out
    return list(csv.DictReader(io.StringIO(text)))


def is_scrubbed(record: Mapping[str, Any]) -> bool:
    """A line privacy has already replaced (an applied or rejected request)."""
    return record.get("status") in (APPLIED, REJECTED)


def write_request_file(path: Path, replacements: dict[int, dict[str, Any]]) -> None:
    """Replace records of a request file (1-based, as :func:`read_request_file` numbers
    them) in its own format; other lines stay as they were."""
    data = path.read_bytes()
    gz = path.name.endswith(".gz")
    text = (gzip.decompress(data) if gz else data).decode("utf-8")
    if path.name.removesuffix(".gz").endswith((".jsonl", ".json", ".ndjson")):
        out, n = [], 0
        for line in text.splitlines():
            if line.strip():
                n += 1
                if n in replacements:
                    line = json.dumps(replacements[n])
            out.append(line)
        result = "\n".join(out) + "\n"
    else:
        reader = csv.DictReader(io.StringIO(text))
        fields = list(reader.fieldnames or [])
        fields += [f for f in ("status", HASHED_FIELD) if f not in fields]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for i, row in enumerate(reader, start=1):
            writer.writerow(replacements.get(i, row))
        result = buffer.getvalue()
    encoded = result.encode("utf-8")
    tmp = path.with_name(f".{path.name}.privacy")
    tmp.write_bytes(gzip.compress(encoded, mtime=0) if gz else encoded)
    tmp.replace(path)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def store_requests(lake: "DeltaLake", records: list[tuple[str, Mapping[str, Any]]],
                   spec: PrivacySpec | None) -> tuple[list[PrivacyRequest], list[tuple[str, str]]]:
    """Check each (origin, record) and store it: new requests into the requests table,
    malformed ones (and a request id reused for another request) into the rejected table.
    Returns (new requests, [(origin, reason)] of the newly rejected)."""
    known = {}
    if lake.exists("_system", *table_parts(REQUESTS_TABLE)):
        known = {r["request_id"]: r["origin"] for r in lake.read(
            "_system", *table_parts(REQUESTS_TABLE)).select("request_id", "origin").collect()}
    seen_rejections = set()
    if lake.exists("_system", *table_parts(REJECTED_TABLE)):
        seen_rejections = {(r["origin"], r["reason"]) for r in lake.read(
            "_system", *table_parts(REJECTED_TABLE)).select("origin", "reason").collect()}
    accepted: list[PrivacyRequest] = []
    rejected: list[tuple[str | None, str, str, str]] = []
    for origin, record in records:
        if is_scrubbed(record):
            continue
        try:
            if record.get("_unparsable"):
                raise RequestError("not a JSON object")
            request = parse_request(record, spec, origin)
        except RequestError as exc:
            rid = str(record.get("request_id") or "").strip() or None
            rejected.append((rid, origin, str(exc), json.dumps(sorted(record))))
            continue
        if request.request_id in known:
            if known[request.request_id] != origin:
                rejected.append((request.request_id, origin,
                                 f"request_id already used by {known[request.request_id]}",
                                 json.dumps(sorted(record))))
            continue
        known[request.request_id] = origin
        accepted.append(request)
    # A feed file is read again on every run: a rejection is reported once.
    rejected = [r for r in rejected if (r[1], r[2]) not in seen_rejections]
    _write(lake, accepted, rejected)
    return accepted, [(origin, reason) for _, origin, reason, _ in rejected]


def _write(lake: "DeltaLake", accepted: list[PrivacyRequest], rejected: list) -> None:
    from pyspark.sql import functions as F

    spark = lake.session
    if accepted:
        rows = [(r.request_id, r.type, r.strategy, json.dumps(r.identifiers, sort_keys=True),
                 r.received, r.origin, RECEIVED, _now(), None, "") for r in accepted]
        lake.insert_new(spark.createDataFrame(rows, REQUESTS_SCHEMA), "_system",
                        *table_parts(REQUESTS_TABLE), keys=("request_id",))
    if rejected:
        frame = spark.createDataFrame(
            rejected, "request_id string, origin string, reason string, fields string",
        ).withColumn("rejected_at", F.current_timestamp())
        lake.insert_new(frame, "_system", *table_parts(REJECTED_TABLE),
                        keys=("origin", "request_id", "reason"))


def pending_requests(lake: "DeltaLake") -> list[PrivacyRequest]:
    """Requests not yet applied (received, failed or partially applied), oldest first."""
    if not lake.exists("_system", *table_parts(REQUESTS_TABLE)):
        return []
    rows = (lake.read("_system", *table_parts(REQUESTS_TABLE))
            .where(f"status <> '{APPLIED}'").orderBy("received", "submitted_at").collect())
    return [PrivacyRequest(r["request_id"], r["type"], r["strategy"],
                           json.loads(r["identifiers"]), r["received"], r["origin"])
            for r in rows]


def mark_requests(lake: "DeltaLake", outcomes: dict[str, tuple[str, str, str]]) -> None:
    """Set each request's status and detail, and its identifiers to their hashes
    (request_id -> (status, detail, hashed identifiers JSON))."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not outcomes:
        return
    frame = lake.session.createDataFrame(
        [(rid, status, detail, hashed) for rid, (status, detail, hashed) in outcomes.items()],
        "request_id string, status string, detail string, identifiers string")
    path = lake.path_for_write("_system", *table_parts(REQUESTS_TABLE))
    (DeltaTable.forPath(lake.session, path).alias("t")
     .merge(frame.alias("s"), "t.request_id = s.request_id")
     .whenMatchedUpdate(set={"status": "s.status", "detail": "s.detail",
                             "identifiers": "s.identifiers",
                             "applied_at": F.current_timestamp()})
     .execute())
