"""Delivery as tenant files write it: destinations (`activation/destinations.yaml`), data
templates (`activation/templates.yaml`) and orchestrations (`activation/orchestrations.yaml`).
See :mod:`cdp_pipelines.activation.destinations` and
:mod:`cdp_pipelines.orchestration.orchestrations` for what they do."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from cdp_pipelines.activation import files
from cdp_pipelines.tenant.base import Name, TenantModel, with_type
from cdp_pipelines.tenant.schedules import ScheduleSpec
from cdp_pipelines.transports import (
    STORE_TYPES,
    TRANSPORT_TYPES,
    RestOptions,
    TransportOptions,
)

DESTINATIONS_FILE = "activation/destinations.yaml"
TEMPLATES_FILE = "activation/templates.yaml"
ORCHESTRATIONS_FILE = "activation/orchestrations.yaml"
# Header names that carry credentials: those go in token_env/token_file, never in the file.
_SECRET_HEADER_HINTS = ("auth", "key", "token", "secret", "signature", "cookie")
_FILE_FIELDS = ("format", "compression", "pgp", "filename", "done_marker")
_REST_FIELDS = ("path", "batch_size", "method", "wrap_field")
_WAREHOUSE_FIELDS = ("table", "db_schema", "mode")



class PgpSpec(TenantModel):
    """Encrypt delivered files to the recipient's public key(s)."""

    public_key_file: str
    armor: bool = False


class DestinationSpec(TenantModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Name
    type: Literal[TRANSPORT_TYPES]
    description: str = ""
    # The transport's options (see cdp_pipelines/transports), written without `type`.
    options: TransportOptions
    # File destinations.
    format: Literal["csv", "tsv", "jsonl", "parquet"] = "csv"
    compression: Literal["none", "gzip", "zip"] = "none"
    pgp: PgpSpec | None = None
    filename: str = "{campaign}_{treatment}_{date:%Y%m%d}{ext}"
    done_marker: bool = True
    # REST destinations.
    path: str | None = None
    batch_size: int = Field(default=100, ge=1)
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    # POST {wrap_field: [...]} instead of a bare JSON array.
    wrap_field: str | None = None
    # Warehouse destinations.
    table: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    mode: Literal["replace", "append"] = "replace"
    allow_in_sandbox: bool = False

    @model_validator(mode="before")
    @classmethod
    def _typed_options(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data:
            data = {**data, "options": with_type(data["type"], data.get("options"), "destination")}
        return data

    @field_validator("options")
    @classmethod
    def _no_credential_headers(cls, options: Any) -> Any:
        if isinstance(options, RestOptions):
            secret_headers = sorted(
                name for name in options.headers
                if any(hint in name.lower() for hint in _SECRET_HEADER_HINTS)
            )
            if secret_headers:
                raise ValueError(
                    f"headers {secret_headers} look like credentials and must not be written in "
                    "tenant files; use token_env/token_file with auth_header and auth_scheme"
                )
        return options

    @field_validator("filename")
    @classmethod
    def _filename_tokens(cls, filename: str) -> str:
        try:
            return files.check_filename_template(filename)
        except files.FileRenderError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _fits_type(self) -> "DestinationSpec":
        kind = "file" if self.is_file else self.type
        allowed = {"file": _FILE_FIELDS, "rest": _REST_FIELDS, "warehouse": _WAREHOUSE_FIELDS}
        for group, names in allowed.items():
            stray = sorted(n for n in names if n in self.model_fields_set and group != kind)
            if stray:
                shown = ["schema" if n == "db_schema" else n for n in stray]
                raise ValueError(
                    f"destination {self.name} ({self.type}): {shown} apply only to {group} "
                    "destinations"
                )
        if self.type == "rest" and not self.path:
            raise ValueError(f"destination {self.name} (rest): 'path' is required")
        if self.type == "warehouse" and not self.table:
            raise ValueError(f"destination {self.name} (warehouse): 'table' is required")
        return self

    @property
    def is_file(self) -> bool:
        return self.type in STORE_TYPES


class TemplateSpec(TenantModel):
    name: Name
    description: str = ""
    fields: dict[str, str] = Field(min_length=1)
    static: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    required: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "TemplateSpec":
        both = sorted(set(self.fields) & set(self.static))
        if both:
            raise ValueError(f"template {self.name}: {both} are in both 'fields' and 'static'")
        unknown = [f for f in self.required if f not in self.fields and f not in self.static]
        if unknown:
            raise ValueError(
                f"template {self.name}: required {unknown} are not destination fields of this "
                f"template (fields: {list(self.fields)}, static: {list(self.static)})"
            )
        return self

    @property
    def output_columns(self) -> list[str]:
        return [*self.fields, *self.static]


class OrchestrationSpec(TenantModel):
    name: Name
    description: str = ""
    campaign: str | None = None
    segment: str | None = None
    query: str | None = None
    # Segments and queries: where the rows go. Campaigns: each treatment's destination.
    destination: str | None = None
    # One template for every destination, or one per destination.
    template: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    after_courier_group: str | None = None

    @model_validator(mode="after")
    def _one_audience(self) -> "OrchestrationSpec":
        given = [k for k in ("campaign", "segment", "query") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"orchestration {self.name}: give exactly one of campaign, "
                             f"segment or query (got {given or 'none'})")
        if self.campaign and self.destination:
            raise ValueError(f"orchestration {self.name}: a campaign's treatments name their "
                             "destinations; drop 'destination'")
        if not self.campaign and not self.destination:
            raise ValueError(f"orchestration {self.name}: 'destination' is required for a "
                             f"{given[0]}")
        if self.template and self.templates:
            raise ValueError(f"orchestration {self.name}: give 'template' or 'templates', "
                             "not both")
        return self

    @property
    def kind(self) -> str:
        return "campaign" if self.campaign else "segment" if self.segment else "query"

    @property
    def audience(self) -> str:
        return self.campaign or self.segment or self.query or ""
