"""Destinations: where campaign rows go (file stores, REST APIs, a SQL warehouse), and
:func:`deliver`, which sends one campaign treatment's rows there exactly once.

A tenant file (``activation/destinations.yaml`` by convention) lists them::

    destinations:
      - name: email_vendor_sftp
        type: sftp                      # s3 | azure_blob | sftp | local | rest | warehouse
        options:                        # the transport's own config keys
          host: sftp.vendor.example
          username: cdp
          private_key_env: VENDOR_SFTP_KEY
          known_hosts_file: /etc/cdp/known_hosts
          root: /inbound
        format: csv                     # csv | tsv | jsonl | parquet
        compression: gzip               # none | gzip | zip
        pgp: {public_key_file: keys/vendor.asc}
        filename: "{campaign}_{treatment}_{date:%Y%m%d}{ext}"
        done_marker: true               # upload <file>.DONE after the file
      - name: ads_api
        type: rest
        options: {base_url: "https://api.ads.example", token_env: ADS_TOKEN}
        path: /v1/audiences/members
        batch_size: 500
      - name: dwh
        type: warehouse
        options: {url_env: DWH_URL}
        table: campaign_recipients
        schema: marketing
        mode: append

Secrets are named (``*_env``/``*_file``), never written in the file. In a sandbox
deployment every delivery goes to files under ``outbox/<destination>/`` of the sandbox,
unless the destination sets ``allow_in_sandbox: true``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from cdp_pipelines.activation import files
from cdp_pipelines.activation.delivery_log import (
    ACKNOWLEDGED,
    COMPLETE,
    DeliveryLog,
    LogEntry,
    batch_key,
    utc_now,
)
from cdp_pipelines.activation.templates import TemplateSpec, apply_template
from cdp_pipelines.config.models import Name, _Model, _refuse_inline_secrets
from cdp_pipelines.deployment import Deployment

if TYPE_CHECKING:
    import pandas as pd

FILE_TYPES = ("s3", "azure_blob", "sftp", "local")
DestinationType = Literal["s3", "azure_blob", "sftp", "local", "rest", "warehouse"]
# Every secret-bearing key any transport takes; each must be given as <key>_env/<key>_file.
_SECRET_OPTIONS = (
    "password", "token", "private_key", "private_key_passphrase", "passphrase",
    "connection_string", "access_key_id", "secret_access_key", "session_token", "url",
)
_SECRET_HEADER_HINTS = ("auth", "key", "token", "secret", "signature", "cookie")
_REQUIRED_OPTIONS = {
    "s3": ("bucket",),
    "azure_blob": ("container",),
    "sftp": ("host", "username"),
    "local": ("root",),
    "rest": ("base_url",),
}
_FILE_FIELDS = ("format", "compression", "pgp", "filename", "done_marker")
_REST_FIELDS = ("path", "batch_size", "method", "wrap_field")
_WAREHOUSE_FIELDS = ("table", "db_schema", "mode")
DONE_SUFFIX = ".DONE"


class DeliveryError(RuntimeError):
    """A delivery failed; the message names the destination, campaign and treatment."""


class PgpSpec(_Model):
    """Encrypt delivered files to the recipient's public key(s)."""

    public_key_file: str
    armor: bool = False


class DestinationSpec(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Name
    type: DestinationType
    description: str = ""
    # The transport's config (see cdp_pipelines/resources/transports), without `type`.
    options: dict[str, Any] = Field(default_factory=dict)
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

    @field_validator("options")
    @classmethod
    def _options_name_secrets(cls, options: dict[str, Any]) -> dict[str, Any]:
        _refuse_inline_secrets(options, _SECRET_OPTIONS)
        secret_headers = sorted(
            name for name in options.get("headers") or {}
            if any(hint in name.lower() for hint in _SECRET_HEADER_HINTS)
        )
        if secret_headers:
            raise ValueError(
                f"headers {secret_headers} look like credentials and must not be written in "
                "tenant files; use token_env/token_file with auth_header and auth_scheme"
            )
        if "type" in options:
            raise ValueError("'type' belongs on the destination, not in its options")
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
        missing = [k for k in _REQUIRED_OPTIONS.get(self.type, ()) if not self.options.get(k)]
        if missing:
            raise ValueError(
                f"destination {self.name} ({self.type}): options {missing} are required"
            )
        if self.type == "rest" and not self.path:
            raise ValueError(f"destination {self.name} (rest): 'path' is required")
        if self.type == "warehouse" and not self.table:
            raise ValueError(f"destination {self.name} (warehouse): 'table' is required")
        return self

    @property
    def is_file(self) -> bool:
        return self.type in FILE_TYPES

    def transport_config(self) -> dict[str, Any]:
        return {"type": self.type, **self.options} if self.is_file else dict(self.options)


class _DestinationsFile(_Model):
    destinations: list[DestinationSpec] = Field(default_factory=list)


def load_destinations(file: Path, root: Path, env: dict[str, str]) -> dict[str, DestinationSpec]:
    """Read ``destinations:`` from a tenant YAML file; errors name the file and the field.

    A relative ``pgp.public_key_file`` is relative to the tenant directory ``root``.
    """
    from cdp_pipelines.config.loader import ConfigError, _read_yaml, _validate

    parsed = _validate(_DestinationsFile, _read_yaml(file, root, env), file, root)
    out: dict[str, DestinationSpec] = {}
    for i, spec in enumerate(parsed.destinations):
        if spec.name in out:
            raise ConfigError(
                f"{file.relative_to(root)}: destinations[{i}].name: destination {spec.name!r} "
                "is defined twice"
            )
        if spec.pgp is not None:
            key = Path(spec.pgp.public_key_file).expanduser()
            key = key if key.is_absolute() else root / key
            if not key.is_file():
                raise ConfigError(
                    f"{file.relative_to(root)}: destinations[{i}].pgp.public_key_file: "
                    f"{key} does not exist"
                )
            spec = spec.model_copy(update={"pgp": spec.pgp.model_copy(
                update={"public_key_file": str(key)})})
        out[spec.name] = spec
    return out


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["sent", "skipped"]
    rows: int
    rejected: int
    target: str
    batch_key: str
    files: tuple[str, ...] = ()
    # REST: how many batches this call posted (earlier acknowledged ones are not re-posted).
    parts_sent: int = 0
    message: str = ""
    rejects: "pd.DataFrame | None" = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Job:
    """One delivery's identity, shared by the per-type senders."""

    spec: DestinationSpec
    orchestration: str
    campaign: str
    treatment: str
    delivery_date: date
    content_sha: str
    key: str
    log: DeliveryLog

    def describe(self) -> str:
        return (
            f"delivery of campaign {self.campaign!r} treatment {self.treatment!r} to "
            f"destination {self.spec.name!r} ({self.spec.type})"
        )

    def entry(self, **values: Any) -> LogEntry:
        return LogEntry(
            batch_key=self.key,
            orchestration=self.orchestration,
            destination=self.spec.name,
            campaign=self.campaign,
            treatment=self.treatment,
            delivery_date=self.delivery_date,
            content_sha256=self.content_sha,
            **values,
        )


def deliver(
    frame: "pd.DataFrame",
    destination: DestinationSpec,
    template: TemplateSpec,
    *,
    orchestration: str,
    treatment: str,
    campaign: str,
    delivery_date: date,
    deployment: Deployment,
    log: DeliveryLog,
) -> DeliveryResult:
    """Send ``frame`` (one campaign treatment's rows) through ``template`` to ``destination``.

    Rows failing the template's ``required`` fields are not sent (``result.rejects``).
    The same rows to the same place on the same day are sent once: a repeat returns
    ``status="skipped"``. Raises :class:`DeliveryError` on failure, after which nothing
    is logged as complete and no ``.DONE`` marker exists for the file.
    """
    if log.deployment.root != deployment.root:
        raise DeliveryError(
            f"destination {destination.name!r}: the delivery log belongs to deployment "
            f"{log.deployment.name!r}, not {deployment.name!r}; each deployment keeps its own"
        )
    rows, rejects = apply_template(frame, template)
    rows = files.canonical_order(rows)
    content_sha = files.content_sha256(rows)
    spec = _effective(destination, deployment)
    job = _Job(
        spec=spec,
        orchestration=orchestration,
        campaign=campaign,
        treatment=treatment,
        delivery_date=delivery_date,
        content_sha=content_sha,
        key=batch_key(orchestration, destination.name, treatment, delivery_date, content_sha),
        log=log,
    )
    state = log.state(job.key)
    done = state.completed
    if done is not None:
        return DeliveryResult(
            status="skipped",
            rows=done.rows,
            rejected=len(rejects),
            target=done.target,
            batch_key=job.key,
            message=(
                f"{job.describe()}: these {done.rows} rows were already delivered to "
                f"{done.target} at {done.finished_at:%Y-%m-%d %H:%M:%S}; nothing sent"
            ),
            rejects=rejects,
        )
    if spec.type == "rest":
        result = _send_rest(rows, job, state.acknowledged)
    else:
        result = (_send_file if spec.is_file else _send_table)(rows, job)
    return replace(result, rejected=len(rejects), rejects=rejects)


def _effective(destination: DestinationSpec, deployment: Deployment) -> DestinationSpec:
    """In a sandbox, the destination's stand-in: files in the sandbox's outbox."""
    if not deployment.is_sandbox or destination.allow_in_sandbox:
        return destination
    outbox = deployment.path("outbox", destination.name)
    if "://" in outbox:
        raise DeliveryError(
            f"destination {destination.name!r}: sandbox {deployment.name!r} redirects "
            f"deliveries to its outbox, which needs a local lake root (got {outbox}); set "
            "allow_in_sandbox: true on the destination to deliver for real"
        )
    outbox = deployment.check_writable(outbox)
    file_fields = {
        name: getattr(destination, name)
        for name in ("format", "compression", "pgp", "filename", "done_marker")
    }
    if not destination.is_file:
        # What the API or table would have received, as a readable file.
        file_fields.update(format="jsonl", compression="none", pgp=None)
    return DestinationSpec(
        name=destination.name,
        type="local",
        description=f"sandbox outbox for {destination.name}",
        options={"root": outbox},
        **file_fields,
    )


def _file_target(spec: DestinationSpec, name: str) -> str:
    """Where a file landed, as a URL-like string without credentials."""
    options = spec.options
    key = "/".join(p for p in (str(options.get("prefix", "")).strip("/"), name) if p)
    if spec.type == "s3":
        return f"s3://{options['bucket']}/{key}"
    if spec.type == "azure_blob":
        return f"azure_blob://{options['container']}/{key}"
    if spec.type == "sftp":
        root = str(options.get("root", ".")).rstrip("/")
        where = f"{options['username']}@{options['host']}:{options.get('port', 22)}"
        return f"sftp://{where}/{root.lstrip('/')}/{name}".replace(f"{where}//", f"{where}/")
    return str(Path(options["root"]).expanduser() / name)


def _send_file(rows: "pd.DataFrame", job: _Job) -> DeliveryResult:
    from cdp_pipelines.resources.transports import TransportError, make_store

    spec = job.spec
    name = files.render_filename(
        spec.filename,
        campaign=job.campaign,
        treatment=job.treatment,
        orchestration=job.orchestration,
        delivery_date=job.delivery_date,
        ext=files.extension(spec.format, spec.compression, spec.pgp is not None),
    )
    target = _file_target(spec, name)
    started = utc_now()
    try:
        data = files.render_file(
            rows,
            fmt=spec.format,
            compression=spec.compression,
            file_name=name,
            pgp=spec.pgp.model_dump() if spec.pgp else None,
        )
        store = make_store(spec.transport_config())
    except (TransportError, ValueError) as exc:
        raise DeliveryError(f"{job.describe()}: preparing {name} failed: {exc}") from exc
    try:
        marker = name + DONE_SUFFIX
        # A marker left from an earlier file of this name must not vouch for the new one
        # while it is being replaced.
        if spec.done_marker:
            store.delete(marker)
        store.write_bytes(name, data)
        if spec.done_marker:
            store.write_bytes(marker, b"")
    except (TransportError, OSError) as exc:
        raise DeliveryError(f"{job.describe()}: uploading {name} failed: {exc}") from exc
    finally:
        store.close()
    job.log.record(
        job.entry(
            target=target,
            rows=len(rows),
            sha256=hashlib.sha256(data).hexdigest(),
            status=COMPLETE,
            started_at=started,
        )
    )
    return DeliveryResult(
        status="sent",
        rows=len(rows),
        rejected=0,
        target=target,
        batch_key=job.key,
        files=(name, marker) if spec.done_marker else (name,),
        message=f"{job.describe()}: sent {len(rows)} rows as {name}",
    )


def _send_rest(rows: "pd.DataFrame", job: _Job, done: dict[int, str]) -> DeliveryResult:
    from cdp_pipelines.resources.transports import RestClient, TransportError
    from cdp_pipelines.resources.transports.http import redact_url

    spec = job.spec
    target = redact_url(f"{str(spec.options['base_url']).rstrip('/')}/{spec.path.lstrip('/')}")
    records = files.records(rows)
    size = spec.batch_size
    parts = math.ceil(len(records) / size)
    started = utc_now()
    sent = 0
    try:
        client = RestClient.from_config(spec.options)
    except (TransportError, ValueError) as exc:
        raise DeliveryError(f"{job.describe()}: {exc}") from exc
    try:
        for part in range(parts):
            batch = records[part * size : (part + 1) * size]
            body = {spec.wrap_field: batch} if spec.wrap_field else batch
            if part in done:
                if done[part] != _json_sha(body):
                    raise DeliveryError(
                        f"{job.describe()}: batch {part + 1} was acknowledged with other "
                        "content than it has now (batch_size or wrap_field changed since the "
                        "interrupted delivery); restore them to resume, so that no batch is "
                        "posted twice"
                    )
                continue
            part_started = utc_now()
            try:
                client.request(spec.method, spec.path, json_body=body)
            except TransportError as exc:
                raise DeliveryError(
                    f"{job.describe()}: batch {part + 1} of {parts} to {target} failed "
                    f"({len(done) + sent} acknowledged batches are logged; a retry resumes "
                    f"after them): {exc}"
                ) from exc
            sent += 1
            job.log.record(
                job.entry(
                    target=target,
                    rows=len(batch),
                    sha256=_json_sha(body),
                    status=ACKNOWLEDGED,
                    started_at=part_started,
                    part=part,
                )
            )
    finally:
        client.close()
    job.log.record(
        job.entry(
            target=target,
            rows=len(records),
            sha256=job.content_sha,
            status=COMPLETE,
            started_at=started,
        )
    )
    resumed = f" (resumed: {len(done)} batches were already acknowledged)" if done else ""
    return DeliveryResult(
        status="sent",
        rows=len(records),
        rejected=0,
        target=target,
        batch_key=job.key,
        parts_sent=sent,
        message=f"{job.describe()}: posted {sent} of {parts} batches to {target}{resumed}",
    )


def _json_sha(body: Any) -> str:
    import json

    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _send_table(rows: "pd.DataFrame", job: _Job) -> DeliveryResult:
    from cdp_pipelines.resources.transports import TransportError, Warehouse

    spec = job.spec
    target = f"{spec.db_schema}.{spec.table}" if spec.db_schema else str(spec.table)
    started = utc_now()
    try:
        warehouse = Warehouse.from_config(spec.options)
    except (TransportError, ValueError) as exc:
        raise DeliveryError(f"{job.describe()}: {exc}") from exc
    try:
        written = warehouse.write_table(rows, spec.table, mode=spec.mode, schema=spec.db_schema)
    except TransportError as exc:
        raise DeliveryError(f"{job.describe()}: {exc}") from exc
    finally:
        warehouse.close()
    job.log.record(
        job.entry(
            target=target,
            rows=written,
            sha256=job.content_sha,
            status=COMPLETE,
            started_at=started,
        )
    )
    return DeliveryResult(
        status="sent",
        rows=written,
        rejected=0,
        target=target,
        batch_key=job.key,
        message=f"{job.describe()}: wrote {written} rows to {target} ({spec.mode})",
    )
