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
deployment every delivery goes to files under ``outbox/<destination>/`` of the sandbox
(on the lake's own store: a local folder, or the lake's S3 bucket with the lake's AWS
settings), unless the destination sets ``allow_in_sandbox: true``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from cdp_pipelines.activation import files
from cdp_pipelines.activation.delivery_log import (
    ACKNOWLEDGED,
    COMPLETE,
    DeliveryLog,
    LogEntry,
    batch_key,
    utc_now,
)
from cdp_pipelines.activation.templates import apply_template
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.tenant.delivery import DestinationSpec, TemplateSpec

if TYPE_CHECKING:
    import pandas as pd

DONE_SUFFIX = ".DONE"


class DeliveryError(RuntimeError):
    """A delivery failed; the message names the destination, campaign and treatment."""


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
    outbox = deployment.check_writable(deployment.path("outbox", destination.name))
    store_type, options = _outbox_store(outbox)
    if store_type is None:
        raise DeliveryError(
            f"destination {destination.name!r}: sandbox {deployment.name!r} redirects "
            f"deliveries to its outbox, which needs a local, S3 or Azure lake (got {outbox}); "
            "set allow_in_sandbox: true on the destination to deliver for real"
        )
    file_fields = {
        name: getattr(destination, name)
        for name in ("format", "compression", "pgp", "filename", "done_marker")
    }
    if not destination.is_file:
        # What the API or table would have received, as a readable file.
        file_fields.update(format="jsonl", compression="none", pgp=None)
    return DestinationSpec(
        name=destination.name,
        type=store_type,
        description=f"sandbox outbox for {destination.name}",
        options=options,
        **file_fields,
    )


def _outbox_store(outbox: str) -> tuple[str | None, dict[str, Any]]:
    """The file transport (type, options) writing to a sandbox outbox: a local folder, or on
    a lake on object storage the same bucket (S3 transport) or container (Azure Blob
    transport), pointed where the lake's settings point. Keys stay in the environment: the
    S3 transport takes boto3's own chain; the Azure one ``AZURE_STORAGE_KEY`` by name, else
    Azure's default credential."""
    import os
    from urllib.parse import urlsplit

    from cdp_pipelines.resources.lake_files import (
        AZURE_SCHEMES,
        S3_SCHEMES,
        LakeStoreError,
        S3Settings,
        azure_blob_location,
        scheme_of,
    )

    scheme = scheme_of(outbox)
    if scheme == "file":
        return "local", {"root": outbox}
    if scheme in S3_SCHEMES:
        where, settings = urlsplit(outbox), S3Settings.from_env()
        return "s3", {"bucket": where.netloc, "prefix": where.path.strip("/"),
                      "region": settings.region, "endpoint_url": settings.endpoint}
    if scheme in AZURE_SCHEMES:
        try:
            url, container, prefix = azure_blob_location(outbox)
        except LakeStoreError:
            return None, {}
        return "azure_blob", {
            "container": container, "prefix": prefix, "account_url": url,
            "account_key_env": "AZURE_STORAGE_KEY" if os.environ.get("AZURE_STORAGE_KEY")
            else None}
    return None, {}


def _send_file(rows: "pd.DataFrame", job: _Job) -> DeliveryResult:
    from cdp_pipelines.transports import PgpOptions, TransportError, make_store

    spec = job.spec
    name = files.render_filename(
        spec.filename,
        campaign=job.campaign,
        treatment=job.treatment,
        orchestration=job.orchestration,
        delivery_date=job.delivery_date,
        ext=files.extension(spec.format, spec.compression, spec.pgp is not None),
    )
    target = spec.options.location(name)
    started = utc_now()
    try:
        data = files.render_file(
            rows,
            fmt=spec.format,
            compression=spec.compression,
            file_name=name,
            pgp=PgpOptions(**spec.pgp.model_dump()) if spec.pgp else None,
        )
        store = make_store(spec.options)
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
    from cdp_pipelines.transports import RestClient, TransportError
    from cdp_pipelines.transports.rest import redact_url

    spec = job.spec
    target = redact_url(f"{spec.options.base_url.rstrip('/')}/{spec.path.lstrip('/')}")
    records = files.records(rows)
    size = spec.batch_size
    parts = math.ceil(len(records) / size)
    started = utc_now()
    sent = 0
    try:
        client = RestClient.from_options(spec.options)
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
                client.request(spec.method, spec.path, json_body=body,
                               idempotency_key=f"{job.key}-{part}")
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
    from cdp_pipelines.transports import TransportError, Warehouse

    spec = job.spec
    target = f"{spec.db_schema}.{spec.table}" if spec.db_schema else str(spec.table)
    started = utc_now()
    try:
        warehouse = Warehouse.from_options(spec.options)
    except (TransportError, ValueError) as exc:
        raise DeliveryError(f"{job.describe()}: {exc}") from exc
    try:
        # The warehouse keeps the batch key with the rows, in one transaction: a crash
        # before the delivery log below, or a twin delivery at the same time, sends nothing.
        written = warehouse.write_table(rows, spec.table, mode=spec.mode, schema=spec.db_schema,
                                        delivery_key=job.key)
    except TransportError as exc:
        raise DeliveryError(f"{job.describe()}: {exc}") from exc
    finally:
        warehouse.close()
    already = written is None
    written = len(rows) if already else written
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
        status="skipped" if already else "sent",
        rows=written,
        rejected=0,
        target=target,
        batch_key=job.key,
        message=(f"{job.describe()}: {target} already holds these {written} rows (delivered "
                 "by an earlier attempt); nothing sent" if already else
                 f"{job.describe()}: wrote {written} rows to {target} ({spec.mode})"),
    )
