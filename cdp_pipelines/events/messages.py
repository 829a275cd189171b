"""The Segment HTTP Tracking API's messages: what a request body must hold, and the
landing record each message becomes.

A body that is not what the API takes is refused whole (the collector answers 400 with
:func:`describe` of the error), so an acknowledged request was written whole. Messages
may carry keys the models do not name (``channel``, ``version``, ...): they are kept.

Times are Segment's: ``receivedAt`` is the collector's clock when the request arrived;
``originalTimestamp`` the client's clock when the call was made (``timestamp`` when the
client sent no ``originalTimestamp``, as server-side libraries do); ``sentAt`` the
client's clock when it sent the request; and ``timestamp`` is corrected for the client's
clock skew: ``receivedAt - (sentAt - originalTimestamp)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
ENDPOINTS = (*MESSAGE_TYPES, "batch")
MAX_BATCH_MESSAGES = 2500
MAX_ERRORS_SHOWN = 5


# RFC 3339 as clients send it (offset optional: a time without one is UTC).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"
                        r"([Zz]|[+-]\d{2}:\d{2})?$")


def _as_id(value: Any) -> Any:
    """Segment ids may be sent as numbers; they are stored as text."""
    if isinstance(value, bool):
        return value  # refused below: true is not an id
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _date_time_text(value: Any) -> Any:
    """Only ISO 8601 date-times: no dates alone, no epoch numbers."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-30T10:15:00.000Z")
    return value


Id = Annotated[str, BeforeValidator(_as_id), Field(min_length=1, max_length=512),
               WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1, "maxLength": 512},
                                         {"type": "number"}]})]
Time = Annotated[datetime, BeforeValidator(_date_time_text)]
Properties = dict[str, Any]
# What the models cannot say field by field.
_SOMEONE = {"anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}]}


class Message(BaseModel):
    """What every call shares."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_SOMEONE)

    messageId: str | None = Field(None, min_length=1, max_length=100)
    userId: Id | None = None
    anonymousId: Id | None = None
    timestamp: Time | None = None
    originalTimestamp: Time | None = None
    sentAt: Time | None = None
    context: Properties | None = None
    integrations: Properties | None = None

    @model_validator(mode="after")
    def _someone(self) -> "Message":
        if self.userId is None and self.anonymousId is None:
            raise ValueError("userId or anonymousId is required")
        return self


class Track(Message):
    type: Literal["track"]
    event: str = Field(min_length=1, max_length=200)
    properties: Properties | None = None


class Page(Message):
    type: Literal["page"]
    name: str | None = None
    category: str | None = None
    properties: Properties | None = None


class Screen(Message):
    type: Literal["screen"]
    name: str | None = None
    properties: Properties | None = None


class Identify(Message):
    type: Literal["identify"]
    traits: Properties | None = None


class Group(Message):
    type: Literal["group"]
    groupId: Id
    traits: Properties | None = None


class Alias(Message):
    type: Literal["alias"]
    previousId: Id
    userId: Id


AnyMessage = Annotated[Union[Track, Identify, Page, Screen, Group, Alias],
                       Field(discriminator="type")]
MODELS: dict[str, type[Message]] = {
    "track": Track, "identify": Identify, "page": Page, "screen": Screen, "group": Group,
    "alias": Alias,
}


class Batch(BaseModel):
    """``/v1/batch``: messages with shared ``context``, ``integrations`` and ``sentAt``."""

    model_config = ConfigDict(extra="allow")

    batch: list[AnyMessage] = Field(min_length=1, max_length=MAX_BATCH_MESSAGES)
    context: Properties | None = None
    integrations: Properties | None = None
    sentAt: Time | None = None
    writeKey: str | None = None


_BATCH = TypeAdapter(Batch)
_SINGLE = {kind: TypeAdapter(model) for kind, model in MODELS.items()}


class BadRequest(ValueError):
    """The body is not a Segment API body; the message says what and where."""


def describe(error: ValidationError, limit: int = MAX_ERRORS_SHOWN) -> str:
    """``batch[3].userId: ...; ...`` without the offending values (they may hold PII)."""
    parts = []
    for detail in error.errors(include_input=False)[:limit]:
        where = ""
        # The discriminated union adds the tag ('track') to the location: not a field.
        for part in detail["loc"]:
            if isinstance(part, int):
                where += f"[{part}]"
            elif part not in MESSAGE_TYPES:
                where += f".{part}" if where else str(part)
        message = detail["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_body(kind: str, data: Any) -> tuple[list[tuple[Message, dict]], dict]:
    """The messages of a request body for endpoint ``kind`` (``batch`` or a message
    type) as (model, raw dict) pairs, and the batch-level fields (``context``,
    ``integrations``, ``sentAt``, ``writeKey``)."""
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(data).__name__}")
    try:
        if kind == "batch":
            batch = _BATCH.validate_python(data)
            raw = data["batch"]
            shared = {"context": batch.context, "integrations": batch.integrations,
                      "sentAt": batch.sentAt, "writeKey": batch.writeKey}
            return list(zip(batch.batch, raw)), shared
        if data.get("type", kind) != kind:
            raise BadRequest(f"type: {data['type']!r} sent to /v1/{kind}; send it to "
                             f"/v1/{data['type']} or /v1/batch")
        data = {**data, "type": kind}
        message = _SINGLE[kind].validate_python(data)
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None
    write_key = data.get("writeKey")
    return [(message, data)], {"writeKey": write_key if isinstance(write_key, str) else None}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def event_times(received_at: datetime, sent_at: datetime | None,
                original: datetime | None) -> datetime:
    """Segment's ``timestamp``: the call's time on the collector's clock. The client's
    clock may be wrong, but the interval between call and send is not."""
    original, sent_at = _utc(original), _utc(sent_at)
    if original is not None and sent_at is not None:
        return received_at - (sent_at - original)
    return original or received_at


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat(
        timespec="milliseconds")


def message_id(raw: dict, source: str) -> str:
    """An id for a message sent without one: the same message sent twice (a retry) gets
    the same id, so it is deduplicated like any other."""
    digest = hashlib.sha256(source.encode() + json.dumps(raw, sort_keys=True, default=str)
                            .encode()).hexdigest()
    return f"api-{digest[:32]}"


def landing_record(message: Message, raw: dict, shared: dict, source: str, key_name: str,
                   received_at: datetime, times: dict[datetime, str | None]) -> dict:
    """The record of one message in a landing file, before the tracking plan's verdict:
    the ids and times downstream tables need, and the message as sent (batch-level
    ``context`` and ``integrations`` merged under the message's own). ``times`` caches
    the text of times a request's messages share."""

    def text(moment: datetime | None) -> str | None:
        if moment not in times:
            times[moment] = iso(_utc(moment))
        return times[moment]

    original = message.originalTimestamp or message.timestamp
    sent_at = message.sentAt or shared.get("sentAt")
    body = dict(raw)
    # A single call may carry its write key in the body: a secret, never landed.
    body.pop("writeKey", None)
    for key in ("context", "integrations"):
        if shared.get(key):
            body[key] = {**shared[key], **(raw.get(key) or {})}
    if body["type"] == "identify" and body.get("traits") is None:
        # RudderStack's libraries send identify traits in context.traits.
        traits = (body.get("context") or {}).get("traits")
        if isinstance(traits, dict):
            body["traits"] = traits
    # Ids from the raw message, numbers made text (as the model checked them).
    ids = {key: _as_id(raw.get(key)) for key in ("userId", "anonymousId", "groupId",
                                                  "previousId")}
    return {
        "messageId": raw.get("messageId") or message_id(raw, source),
        "type": raw["type"],
        "event": raw.get("event") or raw.get("name"),
        **ids,
        "writeKey": key_name,
        "receivedAt": text(received_at),
        "sentAt": text(sent_at),
        "originalTimestamp": text(original),
        "timestamp": iso(event_times(received_at, sent_at, original)),
        "message": body,
    }
