"""Deleted identifiers, kept only as salted hashes, and the ingest filter that consults them.

An identifier is normalised (email lower-cased and trimmed, phone to E.164, address as
``<address>|<postal>`` normalised like Stitch does, a configured key trimmed, a record as
``<feed>|<pk>``) and hashed with HMAC-SHA256 keyed by the tenant's salt, whose value lives
only in the secret ``privacy.yaml`` names. The suppression table
(``_system/privacy/suppression``) holds ``kind``, ``hash``, the request and its action
(``delete`` drops a matching row at ingest, ``delete_pii`` nulls its PII fields): never a
value. Hashing runs in Python (a pandas UDF) so the salt never appears in a Spark plan.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Iterable

from cdp_pipelines.tenant.privacy import PrivacySpec
from cdp_pipelines.transports.credentials import Secret, resolve_secret

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.tenant.sources import FeedSpec

PRIVACY_DIR = "privacy"
SUPPRESSION_TABLE = "suppression"
# Identifier kinds an event's values are hashed as (besides the configured match keys).
EVENT_KINDS = ("email", "phone", "user_id", "anonymous_id")
SUPPRESSION_SCHEMA = ("kind string, hash string, request_id string, action string, "
                      "suppressed_at timestamp")


class PrivacyConfigError(RuntimeError):
    """Privacy requests cannot be applied: no privacy.yaml, or its salt is missing."""


def salt(spec: PrivacySpec | None) -> Secret:
    if spec is None:
        raise PrivacyConfigError("the tenant has no privacy.yaml: privacy requests and "
                                 "suppression need its salt secret (salt_env or salt_file)")
    return resolve_secret(spec, "salt", where="privacy.yaml")


def normalise(kind: str, value: object) -> str | None:
    """The form an identifier of ``kind`` is hashed in; None if it is empty or junk."""
    from cdp_pipelines.stitch import normalize as nz

    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if kind == "email":
        return nz.normalize_email(text)
    if kind == "phone":
        return nz.normalize_phone(text).e164
    if kind == "address":
        address, _, postal = text.partition("|")
        a, p = nz.normalize_address(address), nz.normalize_postal(postal)
        return f"{a}|{p}" if a and p else None
    if kind == "loyalty_id":
        return nz.normalize_loyalty_id(text)
    return text


def digest(secret: Secret, kind: str, normalised: str) -> str:
    """HMAC-SHA256 of ``kind`` and a normalised value, keyed by the tenant's salt."""
    message = f"{kind}\x1f{normalised}".encode("utf-8")
    return hmac.new(secret.reveal().encode("utf-8"), message, hashlib.sha256).hexdigest()


def hash_identifier(secret: Secret, kind: str, value: object) -> str | None:
    norm = normalise(kind, value)
    return None if norm is None else digest(secret, kind, norm)


def table_parts(name: str) -> tuple[str, ...]:
    return (PRIVACY_DIR, name)


def read_suppression(lake: "DeltaLake") -> "DataFrame | None":
    if not lake.exists("_system", *table_parts(SUPPRESSION_TABLE)):
        return None
    return lake.read("_system", *table_parts(SUPPRESSION_TABLE))


def add_suppressions(lake: "DeltaLake", rows: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert (kind, hash, request_id, action) rows not yet suppressed; return how many."""
    from pyspark.sql import functions as F

    rows = sorted(set(rows))
    if not rows:
        return 0
    frame = lake.session.createDataFrame(
        rows, "kind string, hash string, request_id string, action string",
    ).withColumn("suppressed_at", F.current_timestamp()).dropDuplicates(["kind", "hash",
                                                                          "action"])
    stats = lake.insert_new(frame, "_system", *table_parts(SUPPRESSION_TABLE),
                            keys=("kind", "hash", "action"))
    return int(stats.metrics.get("numTargetRowsInserted", 0))


def _identifier_columns(feed: "FeedSpec", match_keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, column) of the feed's fields ingest hashes: emails, phones, configured keys."""
    out = []
    for field in feed.fields:
        for tag in field.tags:
            if tag in ("email", "phone"):
                out.append((tag, field.name))
            elif tag in match_keys:
                out.append((tag.replace("-", "_"), field.name))
    return out


def _hash_udf(secret: Secret, kind: str):
    from pyspark.sql.functions import pandas_udf

    # The revealed value travels inside the UDF to the Python workers, never into a plan.
    key = secret.reveal().encode("utf-8")

    @pandas_udf("string")
    def _hash(values):
        def one(value):
            norm = normalise(kind, value)
            if norm is None:
                return None
            return hmac.new(key, f"{kind}\x1f{norm}".encode("utf-8"),
                            hashlib.sha256).hexdigest()

        return values.map(one)

    return _hash


def _hits(rows: "DataFrame", key: str, hashes: list[tuple["Column", "Column"]],
          table: "DataFrame") -> "DataFrame":
    """(``key``, ``_drop``) of the rows of ``rows`` any of whose (kind, hash) pairs is
    suppressed: ``_drop`` true when a ``delete`` suppresses the row (it wins over a
    ``delete_pii``), false when only a ``delete_pii`` does."""
    from pyspark.sql import functions as F

    candidates = rows.select(key, F.explode(F.array(*[
        F.struct(kind.alias("kind"), value.alias("hash")) for kind, value in hashes]))
        .alias("h")).select(key, "h.kind", "h.hash").where("hash IS NOT NULL")
    # Hashes only, and few beside a batch of rows: broadcast, so the rows are not shuffled.
    return (candidates.join(F.broadcast(table.select("kind", "hash", "action")),
                            ["kind", "hash"])
            .groupBy(key).agg(F.max(F.col("action") == "delete").alias("_drop")))


def suppressed_keys(lake: "DeltaLake", rows: "DataFrame", key: str,
                    identifiers: list[tuple[str, "Column"]],
                    spec: PrivacySpec | None) -> dict[str, str]:
    """``key`` -> ``delete`` or ``delete_pii``, for the rows of ``rows`` one of whose
    identifiers ((kind, column of its value), hashed as the suppression table's) is
    suppressed. One broadcast join; only the suppressed rows' keys come back. Without a
    suppression table, or with none of these kinds in it, no join at all."""
    from pyspark.sql import functions as F

    table = read_suppression(lake)
    if table is None:
        return {}
    kinds = {r["kind"] for r in table.select("kind").distinct().collect()}
    wanted = [(kind, column) for kind, column in identifiers if kind in kinds]
    if not wanted:
        return {}
    secret = salt(spec)
    hashes = [(F.lit(kind), _hash_udf(secret, kind)(column.cast("string")))
              for kind, column in wanted]
    return {r[key]: "delete" if r["_drop"] else "delete_pii"
            for r in _hits(rows, key, hashes, table).collect()}


def apply_suppression(lake: "DeltaLake", feed: "FeedSpec", rows: "DataFrame",
                      spec: PrivacySpec | None, per: str = "_source_file",
                      ) -> tuple["DataFrame", dict[str, int], int]:
    """``rows`` (typed, before the upsert) without the ones a ``delete`` suppresses and with
    PII nulled in the ones a ``delete_pii`` suppresses; also how many rows were dropped,
    per value of the column ``per`` (a file), and how many nulled (counted, never shown).
    A row matches by its record key (feed|pk), a customer key pointing at a suppressed
    record, or any hashed identifier field."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.inputs import PK_SEPARATOR

    table = read_suppression(lake)
    if table is None or table.isEmpty():
        return rows, {}, 0
    secret = salt(spec)
    match_keys = spec.match_keys if spec else ()
    hashes = []
    pk = (F.col(feed.primary_key[0]).cast("string") if len(feed.primary_key) == 1 else
          F.concat_ws(PK_SEPARATOR, *[F.col(k).cast("string") for k in feed.primary_key]))
    hashes.append((F.lit("record"), _hash_udf(secret, "record")(
        F.concat(F.lit(f"{feed.name}|"), pk))))
    for field in feed.fields_tagged("customer-key"):
        hashes.append((F.lit("record"), _hash_udf(secret, "record")(
            F.concat(F.lit(f"{field.references}|"), F.col(field.name).cast("string")))))
    for kind, column in _identifier_columns(feed, match_keys):
        hashes.append((F.lit(kind), _hash_udf(secret, kind)(F.col(column).cast("string"))))
    keyed = rows.withColumn("_privacy_row", F.monotonically_increasing_id()).cache()
    try:
        hits = _hits(keyed, "_privacy_row", hashes, table)
        marked = keyed.join(hits, "_privacy_row", "left").localCheckpoint(eager=True)
    finally:
        keyed.unpersist()
    dropped = {r[per]: r["count"] for r in marked.where(F.col("_drop")).groupBy(per).count()
               .collect()}
    nulled = marked.where(~F.col("_drop")).count()
    # The raw text beside each typed PII field (kept for the quarantine record) too.
    pii = set(feed.pii_columns) | {f"_raw_{feed.field(c).file_column}" for c in feed.pii_columns}
    kept = marked.where(F.col("_drop").isNull() | ~F.col("_drop")).select(*[
        (F.when(F.col("_drop").isNull(), F.col(c)).otherwise(F.lit(None).cast(
            marked.schema[c].dataType)).alias(c) if c in pii else F.col(c))
        for c in rows.columns])
    return kept, dropped, nulled
