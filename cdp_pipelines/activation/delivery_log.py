"""The delivery log: a Delta table of what was delivered, so a retried run never sends twice.

Lives at ``deployment.path("activation", "delivery_log")``. One row per delivered batch:

- ``status="acknowledged"``, ``part=i``: REST batch ``i`` was accepted by the API (a
  retry after a failure resumes after these, never re-posting one);
- ``status="complete"``, ``part=null``: the whole delivery landed (file and marker
  uploaded, table written, every REST batch acknowledged).

The ``batch_key`` is the sha256 of (orchestration, destination, treatment, delivery date,
content sha256 of the rows), so the same rows to the same place on the same day are one
delivery. A failed delivery writes no ``complete`` row.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from cdp_pipelines.deployment import Deployment

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ACKNOWLEDGED = "acknowledged"
COMPLETE = "complete"


def batch_key(
    orchestration: str, destination: str, treatment: str, delivery_date: date, content_sha: str
) -> str:
    parts = (orchestration, destination, treatment, delivery_date.isoformat(), content_sha)
    # The unit separator cannot occur in names, so ("a_b", "c") and ("a", "b_c") differ.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class LogEntry:
    batch_key: str
    orchestration: str
    destination: str
    campaign: str
    treatment: str
    delivery_date: date
    target: str
    rows: int
    sha256: str
    content_sha256: str
    status: str
    started_at: datetime
    finished_at: datetime = field(default_factory=utc_now)
    part: int | None = None


@dataclass(frozen=True)
class DeliveryState:
    # The ``complete`` row, or None if the delivery never fully landed.
    completed: LogEntry | None
    # REST batches the API already accepted: part index -> sha256 of the body sent.
    acknowledged: dict[int, str]


def _schema():
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField("batch_key", T.StringType(), False),
            T.StructField("orchestration", T.StringType(), False),
            T.StructField("destination", T.StringType(), False),
            T.StructField("campaign", T.StringType(), False),
            T.StructField("treatment", T.StringType(), False),
            T.StructField("delivery_date", T.DateType(), False),
            T.StructField("target", T.StringType(), False),
            T.StructField("rows", T.LongType(), False),
            T.StructField("sha256", T.StringType(), False),
            T.StructField("content_sha256", T.StringType(), False),
            T.StructField("status", T.StringType(), False),
            T.StructField("started_at", T.TimestampType(), False),
            T.StructField("finished_at", T.TimestampType(), False),
            T.StructField("part", T.IntegerType(), True),
        ]
    )


class DeliveryLog:
    """Read and append the deployment's delivery log (Spark + Delta)."""

    def __init__(self, spark: "SparkSession", deployment: Deployment) -> None:
        # Own SQL settings on the shared context: the log is small, and Delta's default 50
        # partitions for rebuilding a table snapshot cost seconds per read on a busy machine.
        self.spark = spark.newSession()
        self.spark.conf.set("spark.databricks.delta.snapshotPartitions", "1")
        self.spark.conf.set("spark.sql.shuffle.partitions", "1")
        self.deployment = deployment
        self.path = deployment.check_writable(deployment.path("activation", "delivery_log"))

    def __repr__(self) -> str:
        return f"DeliveryLog(path={self.path!r})"

    def entries(self, key: str | None = None) -> list[LogEntry]:
        """Logged rows (of one batch key, when given), oldest first."""
        from pyspark.sql import functions as F

        from cdp_pipelines.resources.delta_io import table_exists

        if not table_exists(self.spark, self.path):
            return []
        table = self.spark.read.format("delta").load(self.path)
        if key is not None:
            table = table.where(F.col("batch_key") == key)
        entries = [LogEntry(**row.asDict()) for row in table.collect()]
        return sorted(entries, key=lambda e: (e.finished_at, -1 if e.part is None else e.part))

    def state(self, key: str) -> DeliveryState:
        """What is logged for one delivery (one read of the table)."""
        entries = self.entries(key)
        done = [entry for entry in entries if entry.status == COMPLETE]
        return DeliveryState(
            completed=done[0] if done else None,
            acknowledged={
                entry.part: entry.sha256
                for entry in entries
                if entry.status == ACKNOWLEDGED and entry.part is not None
            },
        )

    def record(self, entry: LogEntry) -> None:
        """Append one row in its own Delta commit (durable before the next batch is sent)."""
        from cdp_pipelines.resources.delta_io import append

        row = asdict(entry)
        for column in ("started_at", "finished_at"):
            # Spark stores instants; naive values would be read as session-local time.
            row[column] = row[column].astimezone(timezone.utc)
        append(self.spark.createDataFrame([row], schema=_schema()), self.path)
