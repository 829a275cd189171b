"""The collector: Segment's HTTP Tracking API on FastAPI, so existing Segment and
RudderStack libraries can send to it.

``POST /v1/track|identify|page|screen|group|alias|batch`` with the source's write key as
the basic-auth user name (or ``writeKey`` in the body, as Segment also takes it); gzip
bodies (``Content-Encoding: gzip``) are read. Answers:

- 200 ``{"success": true}`` once every message of the request is durably written (see
  :mod:`cdp_pipelines.events.journal`): acknowledged means it survives a crash.
- 400 with a reason when the body is not valid JSON or not a Segment body; nothing of
  the request is written.
- 401 for a missing or unknown write key; 413 for a body (or a message) over the limit.
- 503 when the landing files cannot be written; clients retry.

Each message is checked against its source's tracking plan here
(:mod:`cdp_pipelines.events.plans`); a blocked message is written too, marked blocked, so
that it reaches the failed-events table. The OpenAPI document is at ``/openapi.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cdp_pipelines.events import openapi
from cdp_pipelines.events.journal import Journal
from cdp_pipelines.events.messages import (
    ENDPOINTS,
    BadRequest,
    landing_record,
    parse_body,
)
from cdp_pipelines.events.plans import SourcePlan
from cdp_pipelines.events.shipping import Shipper
from cdp_pipelines.resources.lake_files import LakePath
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.transports.credentials import resolve_secret


@dataclass(frozen=True)
class Limits:
    """Segment's own limits: 500 KB a request, 32 KB a message (its landing record)."""

    max_request_bytes: int = 512 * 1024
    max_event_bytes: int = 32 * 1024


@dataclass(frozen=True)
class RollPolicy:
    """When a landing file is closed (and becomes loadable)."""

    max_bytes: int = 64 << 20
    max_seconds: float = 10.0


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _fingerprint(key: str) -> str:
    # Keys are looked up by hash: the table never holds a key, and timing reveals no key.
    return hashlib.sha256(key.encode()).hexdigest()


def write_keys(sources: list[EventSourceSpec]) -> dict[str, tuple[str, str]]:
    """Fingerprint of each write key -> (source, key name), the keys read from the
    secrets the tenant names."""
    keys: dict[str, tuple[str, str]] = {}
    for source in sources:
        for i, spec in enumerate(source.write_keys):
            where = f"events/{source.name}.yaml: write_keys[{i}] ({spec.name})"
            secret = resolve_secret(spec, "key", where=where)
            fingerprint = _fingerprint(secret.reveal())
            if fingerprint in keys:
                raise ValueError(f"{where}: the same key is also write key "
                                 f"{keys[fingerprint][1]} of source {keys[fingerprint][0]}; "
                                 "each key must name one source")
            keys[fingerprint] = (source.name, spec.name)
    return keys


class Collector:
    """Checks, records and durably writes the messages of each request."""

    def __init__(self, sources: list[EventSourceSpec], landing: Callable[[str], Path],
                 keys: dict[str, tuple[str, str]], limits: Limits = Limits(),
                 roll: RollPolicy = RollPolicy(),
                 ship_to: Callable[[str], LakePath] | None = None):
        """``landing``: each source's journal directory. ``ship_to``, for a lake on object
        storage: each source's landing prefix there; the journal directories are then a
        local spool whose closed files are shipped (:mod:`cdp_pipelines.events.shipping`)."""
        self.limits = limits
        self.plans = {s.name: SourcePlan(s) for s in sources}
        self.shippers = {s.name: Shipper(landing(s.name), ship_to(s.name))
                         for s in sources} if ship_to else {}
        self.journals = {s.name: Journal(landing(s.name), roll.max_bytes, roll.max_seconds,
                                         on_closed=self.shippers[s.name].wake
                                         if ship_to else None)
                         for s in sources}
        self._keys = keys

    def start(self) -> None:
        for journal in self.journals.values():
            journal.start()  # first: it closes the files a crashed writer left open
        for shipper in self.shippers.values():
            shipper.start()

    def close(self) -> None:
        for journal in self.journals.values():
            journal.close()
        for shipper in self.shippers.values():
            shipper.close()

    def health(self) -> dict[str, Any]:
        """What a liveness probe shows: the sources and, when shipping, the closed files
        each has waiting in the spool (a growing number: the lake is not taking them)."""
        out: dict[str, Any] = {"status": "ok", "sources": sorted(self.journals)}
        if self.shippers:
            out["unshipped_files"] = {name: shipper.backlog()
                                      for name, shipper in sorted(self.shippers.items())}
        return out

    def source_for(self, authorization: str | None, body_key: str | None) -> tuple[str, str]:
        """(source, key name) of the request's write key: basic auth, else the body's."""
        key = body_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "basic":
                raise HttpError(401, "unauthorized", "use HTTP basic auth with the write key "
                                                     "as the user name")
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                raise HttpError(401, "unauthorized", "malformed basic auth header") from None
        if not key:
            raise HttpError(401, "unauthorized", "no write key: send it as the basic-auth "
                                                 "user name")
        found = self._keys.get(_fingerprint(key))
        if found is None:
            raise HttpError(401, "unauthorized", "unknown write key")
        return found

    def records(self, kind: str, data: Any,
                sender: tuple[str, str] | None) -> tuple[str, bytes]:
        """The source and the landing lines of a parsed request body; ``sender`` is the
        (source, key name) of the basic-auth key, None to take the body's ``writeKey``."""
        messages, shared = parse_body(kind, data)
        source, key_name = sender or self.source_for(None, shared.get("writeKey"))
        plan = self.plans[source]
        received_at = datetime.now(timezone.utc)
        times: dict = {}
        lines = []
        for i, (message, raw) in enumerate(messages):
            where = f"batch[{i}]" if kind == "batch" else kind
            try:
                record = landing_record(message, raw, shared, source, key_name, received_at,
                                        times)
            except (OverflowError, ValueError):
                raise BadRequest(f"{where}: its timestamps are out of range") from None
            verdict = plan.verdict(record["message"])
            record["status"] = "blocked" if verdict.blocked else "accepted"
            record["violations"] = [v.as_dict() for v in verdict.violations]
            record["omitted"] = verdict.omitted
            record["message"] = verdict.message
            line = _json_line(record)
            if len(line) > self.limits.max_event_bytes:
                raise HttpError(413, "payload_too_large",
                                f"{where}: the message is over {self.limits.max_event_bytes} "
                                "bytes")
            lines.append(line)
        return source, b"".join(lines)

    async def collect(self, kind: str, request: Request) -> None:
        authorization = request.headers.get("authorization")
        sender = self.source_for(authorization, None) if authorization else None
        body = await read_body(request, self.limits.max_request_bytes)
        try:
            data = json.loads(body, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        source, lines = self.records(kind, data, sender)
        try:
            await self.journals[source].append(lines)
        except OSError as exc:  # a full disk, or shutting down (JournalClosed)
            raise HttpError(503, "unavailable", f"could not store the events "
                                                f"({exc.strerror or exc}); retry") from None


def _json_line(record: dict) -> bytes:
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # What orjson cannot write and JSON allows: integers over 64 bits, lone surrogates.
        return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped if sent gzipped, refused once over ``limit`` bytes
    (before and after decompression: a small gzip body may inflate to gigabytes)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, "payload_too_large", f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "payload_too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise HttpError(415, "unsupported_encoding",
                        f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise HttpError(413, "payload_too_large", f"the body is over {limit} bytes unzipped")
    if not inflater.eof:
        raise BadRequest("the gzip body is truncated")
    return out


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="cdp-collector"'} if status == 401 else None
    return JSONResponse({"success": False, "code": code, "message": message}, status,
                        headers=headers)


def create_app(collector: Collector) -> FastAPI:
    """The ASGI application; the collector's journals run while the app does."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        collector.start()
        try:
            yield
        finally:
            collector.close()

    app = FastAPI(title="cdp-pipelines event collector", version="1",
                  description=__doc__.split("\n\n")[0], lifespan=lifespan)

    def endpoint(kind: str):
        async def collect(request: Request) -> JSONResponse:
            try:
                await collector.collect(kind, request)
            except BadRequest as exc:
                return _error(400, "bad_request", str(exc))
            except HttpError as exc:
                return _error(exc.status, exc.code, exc.message)
            return JSONResponse({"success": True})

        collect.__name__ = f"collect_{kind}"
        return collect

    for kind in ENDPOINTS:
        app.add_api_route(f"/v1/{kind}", endpoint(kind), methods=["POST"],
                          **openapi.operation(kind))

    @app.get("/health", summary="Liveness: the sources this collector takes")
    async def health() -> dict[str, Any]:
        return collector.health()

    openapi.install(app)
    return app
