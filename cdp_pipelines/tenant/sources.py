"""A tenant's sources (`sources/*.yaml`): couriers, feeds and their fields with semantic
tags, and the custom domain tables of `domain/*.sql`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from cdp_pipelines.governance.pii import is_pii_tagged
from cdp_pipelines.tenant.base import Name, TenantModel, check_identifier, with_type
from cdp_pipelines.transports import (
    OPTIONS_BY_TYPE,
    TRANSPORT_TYPES,
    NonEmptyStr,
    Pagination,
    PgpOptions,
    RestOptions,
    WarehouseOptions,
)

# Semantic tags Stitch and Customer 360 understand. `fk-<namespace>` is open-ended.
STITCH_TAGS = (
    "given-name", "surname", "full-name", "email", "phone", "address", "address2",
    "city", "state", "postal", "country", "birthdate", "gender", "loyalty-id", "sk",
)
OTHER_TAGS = (
    "pk", "updated-at",
    # a transaction's link to its customer record: the pk of the feed named in `references`
    "customer-key",
    # transactions (Customer 360)
    "order-id", "order-date", "order-revenue", "order-quantity", "order-status",
    "item-sku", "item-quantity", "item-revenue", "item-name", "item-category",
    # consent and flags (customer attributes)
    "email-opt-in", "sms-opt-in", "opt-in-date", "is-test", "is-employee",
)
KNOWN_TAGS = frozenset(STITCH_TAGS + OTHER_TAGS)
FieldType = Literal["string", "int", "long", "double", "decimal", "boolean", "date", "timestamp"]


class FieldSpec(TenantModel):
    """One column of a feed."""

    name: Name
    type: FieldType = "string"
    tags: tuple[str, ...] = ()
    nullable: bool = True
    # Spark datetime pattern for date/timestamp columns given as text, e.g. "MM/dd/yyyy".
    format: str | None = None
    # Column name in the file when it differs from `name` (e.g. "First Name").
    source_column: str | None = None
    # Personal data? Defaults from the tags.
    pii: bool | None = None
    # Value pattern checked by the feed's expectations (e.g. email shape).
    regex: str | None = None
    # For a `customer-key` column: the feed whose primary key it holds.
    references: str | None = None


    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if tag.startswith("fk-"):
                check_identifier(tag[3:].replace("-", "_"), "foreign-key namespace")
            elif tag not in KNOWN_TAGS:
                raise ValueError(
                    f"unknown semantic tag {tag!r}; known tags: {', '.join(sorted(KNOWN_TAGS))}, "
                    "or fk-<namespace>"
                )
        return tags

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, regex: str | None) -> str | None:
        # Checked here, not first inside Great Expectations halfway through a run.
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"regex {regex!r} does not compile: {exc}") from None
        return regex

    @property
    def is_pii(self) -> bool:
        return is_pii_tagged(self.tags, self.pii)

    @property
    def file_column(self) -> str:
        return self.source_column or self.name


class FormatSpec(TenantModel):
    """How a courier's files are encoded."""

    type: Literal["csv", "tsv", "psv", "jsonl", "parquet", "avro"] = "csv"
    delimiter: str | None = None
    header: bool = True
    quote: str = '"'
    escape: str = '"'
    encoding: str = "utf-8"
    # "auto" picks from the file name: .gz, .zip, .tar, .tgz/.tar.gz; else none.
    compression: Literal["auto", "none", "gzip", "zip", "tar", "tgz"] = "auto"
    # Which archive members to read (glob on the member's path); None reads every file.
    member_pattern: str | None = None
    # Decrypt before reading (private_key_env/_file, passphrase_env/_file); secrets are
    # named, never written here.
    pgp: PgpOptions | None = None

    @property
    def field_delimiter(self) -> str:
        if self.delimiter:
            return self.delimiter
        return {"tsv": "\t", "psv": "|"}.get(self.type, ",")


class RestPull(RestOptions):
    """A REST courier's options: the client's, plus the GET it pulls."""

    path: NonEmptyStr
    params: dict[str, Any] = Field(default_factory=dict)
    pagination: Pagination = Pagination()


class WarehousePull(WarehouseOptions):
    """A warehouse courier's options: the connection's, plus the table it reads."""

    table: NonEmptyStr
    updated_at_column: NonEmptyStr
    output: Literal["parquet", "jsonl"] = "parquet"


# Every transport's options, REST and warehouse with what they pull.
_PULLS = {"rest": RestPull, "warehouse": WarehousePull}
CourierOptions = Annotated[
    Union[tuple(_PULLS.get(kind, model) for kind, model in OPTIONS_BY_TYPE.items())],
    Field(discriminator="type"),
]


class CourierSpec(TenantModel):
    """Pulls raw files (or pulls records into files) for a source and lands them unchanged.

    ``type``: ``local`` (``root``), ``s3`` / ``azure_blob`` / ``sftp`` (``options`` is the
    store config: bucket, container, host, prefix, ...), ``rest`` (``options``: base_url,
    path, params, pagination, token_env, ...) or ``warehouse`` (``options``: connection
    keys, table, updated_at_column, output ``parquet``|``jsonl``). Secrets only as
    ``*_env`` / ``*_file`` names.
    """

    name: Name
    type: Literal[TRANSPORT_TYPES] = "local"
    # Directory the files are picked up from (local transport).
    root: str | None = None
    # Relative file pattern; `*` and `?` glob, date tokens {yyyy} {MM} {dd} {HH} {mm} {ss}.
    # REST and warehouse couriers name their pulls themselves (default: a timestamped name).
    pattern: str
    format: FormatSpec = FormatSpec()
    # The transport's options, written without `type`; a local courier's come from `root`.
    options: CourierOptions
    # What to do when no file matches: "ignore", "warn" (a warning check) or "fail".
    when_missing: Literal["ignore", "warn", "fail"] = "warn"

    @model_validator(mode="before")
    @classmethod
    def _defaults_and_typed_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("type", "local")
        if kind in ("rest", "warehouse"):
            output = "jsonl"
            if kind == "warehouse":
                output = (data.get("options") or {}).get("output", "parquet")
            # `*` takes the pull's microseconds: two pulls in one second get two files.
            data.setdefault("pattern", f"{data.get('name')}-{{yyyy}}{{MM}}{{dd}}T{{HH}}{{mm}}"
                                       f"{{ss}}Z-*.{output}")
            data.setdefault("format", {"type": output})
        if kind == "local":
            if data.get("options"):
                raise ValueError(f"courier {data.get('name')}: a local courier takes 'root', "
                                 "not 'options'")
            if not data.get("root"):
                raise ValueError(f"courier {data.get('name')}: a local courier needs 'root' "
                                 "(a directory)")
            data["options"] = {"root": data["root"]}
        data["options"] = with_type(kind, data.get("options"), "courier")
        return data

    @model_validator(mode="after")
    def _root_only_for_local(self) -> "CourierSpec":
        if self.type != "local" and self.root is not None:
            raise ValueError(f"courier {self.name}: 'root' is for local couriers; put the "
                             f"{self.type} location in 'options'")
        return self


class FeedSpec(TenantModel):
    """A feed: a courier's files typed into a domain table upserted by primary key."""

    name: Name
    courier: str
    description: str = ""
    primary_key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    # Domain tables marked for Stitch take part in identity resolution.
    stitch: bool = False
    # A file that cannot be read at all is quarantined whole; its check fails the run
    # ("fail") or warns ("warn").
    unreadable_files: Literal["fail", "warn"] = "fail"

    @model_validator(mode="after")
    def _fields_consistent(self) -> "FeedSpec":
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"fields {dupes} are declared more than once")
        if not self.primary_key:
            raise ValueError("primary_key must name at least one field")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"primary_key names {missing}, which are not among the fields {names}")
        updated = [f.name for f in self.fields if "updated-at" in f.tags]
        if len(updated) > 1:
            raise ValueError(f"only one field may be tagged updated-at, got {updated}")
        return self

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def updated_at(self) -> str | None:
        return next((f.name for f in self.fields if "updated-at" in f.tags), None)

    def fields_tagged(self, tag: str) -> list[FieldSpec]:
        return [f for f in self.fields if tag in f.tags]

    @property
    def pii_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.is_pii]


class SourceSpec(TenantModel):
    """A source system of the tenant (e.g. point of sale), with its couriers and feeds."""

    name: Name
    description: str = ""
    # "privacy-request": its couriers land privacy requests (request_id, type, strategy,
    # identifiers, received), read into the privacy requests table; it has no feeds.
    type: Literal["records", "privacy-request"] = "records"
    couriers: tuple[CourierSpec, ...] = ()
    feeds: tuple[FeedSpec, ...] = ()
    # Where this source stands when Customer 360 picks a winning value (lower wins).
    priority: int = 100


    @model_validator(mode="after")
    def _feeds_name_couriers(self) -> "SourceSpec":
        if self.type == "privacy-request" and self.feeds:
            raise ValueError("a privacy-request source has no feeds: its couriers' files are "
                             "read as privacy requests")
        couriers = [c.name for c in self.couriers]
        for i, feed in enumerate(self.feeds):
            if feed.courier not in couriers:
                raise ValueError(
                    f"feeds[{i}] ({feed.name}) names courier {feed.courier!r}, which this source "
                    f"does not define; its couriers are {couriers}"
                )
        return self


class CustomDomainTable(TenantModel):
    """A Spark SQL table built from domain tables (a `domain/*.sql` file)."""

    name: Name
    sql: str
    path: Path
    # Include it in Stitch (tags given in the file's `-- tags:` header).
    stitch: bool = False
    tags: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    primary_key: tuple[str, ...] = ()

    @property
    def pii_columns(self) -> frozenset[str]:
        """Columns whose ``-- tags:`` make them personal data."""
        return frozenset(c for c, tags in self.tags.items() if is_pii_tagged(tags))
