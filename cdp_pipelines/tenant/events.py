"""Event sources and their tracking plans (`events/<source>.yaml`), as Segment Protocols
and RudderStack tracking plans define them.

    description: Web shop (analytics.js)
    write_keys:                       # HTTP basic-auth user names the collector accepts
      - {name: browser, key_env: CDP_WEB_WRITE_KEY}
    on_violation: omit                # block | omit | allow
    allow_unplanned_events: false     # a track call whose name is not planned violates
    violation_warn_rate: 0.05         # the violation check warns above this share
    identify:
      traits: {type: object, properties: {email: {type: string, format: email}}}
      tags: {loyaltyId: loyalty-id}   # traits for Stitch beyond Segment's reserved ones
    events:
      - name: Product Viewed
        properties: {type: object, properties: {sku: {type: string}}, required: [sku]}

The source's name is the file name. What a violation does:

- ``block``: the event goes to the failed-events table with each rule and reason.
- ``omit``: unplanned properties (and properties whose value breaks their schema) are
  removed and kept in the failed-events record; the rest passes, flagged with what
  could not be repaired (a missing required property).
- ``allow``: the event passes unchanged, flagged with its violations.

A property is unplanned when the schema's ``properties`` does not declare it, unless the
schema says ``additionalProperties: true``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cdp_pipelines.governance.pii import is_pii_tagged
from cdp_pipelines.tenant.base import Name, TenantModel
from cdp_pipelines.tenant.sources import KNOWN_TAGS

EVENTS_DIR = "events"
# The tables an event source loads into, by kind; the table is ``<source>_<kind>``.
TABLE_KINDS = ("events", "identifies", "aliases", "failed_events")
# Segment's reserved identify traits (a path into ``traits``) -> column, semantic tag.
RESERVED_TRAITS: tuple[tuple[str, str, str], ...] = (
    ("email", "email", "email"),
    ("phone", "phone", "phone"),
    ("firstName", "first_name", "given-name"),
    ("lastName", "last_name", "surname"),
    ("name", "name", "full-name"),
    ("birthday", "birthday", "birthdate"),
    ("gender", "gender", "gender"),
    ("address.street", "address", "address"),
    ("address.city", "city", "city"),
    ("address.state", "state", "state"),
    ("address.postalCode", "postal", "postal"),
    ("address.country", "country", "country"),
)
# How identity columns take part in Stitch: exact links on the Segment ids.
USER_ID_TAG = "fk-user"
ANONYMOUS_ID_TAG = "fk-anonymous"
_TRAIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema of an object, compiled once here so a wrong one fails on load."""
    import fastjsonschema

    if schema.get("type", "object") != "object":
        raise ValueError(f"the schema must describe an object (type: object), got type "
                         f"{schema.get('type')!r}")
    try:
        fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise ValueError(f"not a valid JSON Schema: {exc}") from None
    return schema


def snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower())


class WriteKeySpec(TenantModel):
    """A write key clients send as the basic-auth user name; the key itself is a secret
    named here (``key_env`` or ``key_file``), never written in the file."""

    name: Name
    key_env: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> "WriteKeySpec":
        if bool(self.key_env) == bool(self.key_file):
            raise ValueError(f"write key {self.name}: give exactly one of 'key_env' (an "
                             "environment variable name) or 'key_file' (a file path)")
        return self


class EventPlan(TenantModel):
    """One planned track event: its name as clients send it and its properties' schema."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    properties: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    @field_validator("properties")
    @classmethod
    def _schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(schema)


class IdentifyPlan(TenantModel):
    """The identify call's traits: their schema, and tags for traits beyond Segment's
    reserved ones (email, phone, firstName, lastName, name, birthday, gender, address)."""

    traits: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("traits")
    @classmethod
    def _schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(schema)

    @field_validator("tags")
    @classmethod
    def _known(cls, tags: dict[str, str]) -> dict[str, str]:
        for trait, tag in tags.items():
            if not _TRAIT.match(trait):
                raise ValueError(f"{trait!r} is not a trait path (letters, digits, '_', "
                                 "'.' between levels)")
            if tag not in KNOWN_TAGS and not tag.startswith("fk-"):
                raise ValueError(f"trait {trait}: unknown semantic tag {tag!r}")
        reserved = {path for path, _, _ in RESERVED_TRAITS} & set(tags)
        if reserved:
            raise ValueError(f"{sorted(reserved)} are Segment's reserved traits and already "
                             "tagged; tag only other traits")
        return tags


class EventSourceSpec(TenantModel):
    """An event source: its write keys, tracking plan and what violations do."""

    name: Name
    description: str = ""
    write_keys: tuple[WriteKeySpec, ...] = Field(min_length=1)
    on_violation: Literal["block", "omit", "allow"] = "allow"
    allow_unplanned_events: bool = True
    violation_warn_rate: float = Field(0.05, ge=0, le=1)
    identify: IdentifyPlan = IdentifyPlan()
    events: tuple[EventPlan, ...] = ()
    # Identifies and aliases take part in Stitch (the ids and reserved traits are tagged).
    stitch: bool = True

    @model_validator(mode="after")
    def _unique(self) -> "EventSourceSpec":
        for what, names in (("write_keys", [k.name for k in self.write_keys]),
                            ("events", [e.name for e in self.events])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what}: {dupes} appear more than once")
        return self

    def table(self, kind: str) -> str:
        """The domain table of ``kind`` (one of TABLE_KINDS) this source loads into."""
        if kind not in TABLE_KINDS:
            raise ValueError(f"unknown event table kind {kind!r}")
        return f"{self.name}_{kind}"

    @property
    def tables(self) -> list[str]:
        return [self.table(kind) for kind in TABLE_KINDS]

    @property
    def identify_columns(self) -> list[tuple[str, str, str]]:
        """(trait path, column, semantic tag) of every trait the identifies table carries."""
        extra = [(path, snake_case(path.replace(".", "_")), tag)
                 for path, tag in self.identify.tags.items()]
        return list(RESERVED_TRAITS) + extra

    @property
    def pii_columns(self) -> list[str]:
        """Columns of this source's tables that hold personal data: tagged traits, and
        the JSON of traits, context (IP, user agent) and failed records."""
        tagged = [column for _, column, tag in self.identify_columns if is_pii_tagged([tag])]
        return tagged + ["traits", "context", "record", "omitted"]
