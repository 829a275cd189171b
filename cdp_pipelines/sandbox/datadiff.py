"""Data diff of a sandbox's materialized tables against production's, with Spark.

For every Delta table under ``domain/``, ``stitch/``, ``c360/`` and ``activation/`` of
both prefixes: row counts; added and removed keys (the table's primary key from the
tenant configuration, else ``record_id`` or ``amperity_id`` when both sides have it);
for tables holding ``record_id`` and ``amperity_id`` (Stitch's ``unified_coalesced``) the
records whose amperity_id differs and the number of customers each side; for activation
tables with a ``segment`` column, the size of each segment. Tables found on one side only
are listed by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cdp_pipelines.deployment import Deployment

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from cdp_pipelines.tenant.model import Tenant

DIFF_LAYERS = ("domain", "stitch", "c360", "activation")
FALLBACK_KEYS = (("record_id",), ("amperity_id",))
SAMPLE_KEYS = 5


@dataclass
class TableDiff:
    table: str
    production_rows: int
    sandbox_rows: int
    key: tuple[str, ...] = ()
    added_keys: int | None = None
    removed_keys: int | None = None
    added_sample: list[str] = field(default_factory=list)
    removed_sample: list[str] = field(default_factory=list)
    changed_amperity_ids: int | None = None
    production_customers: int | None = None
    sandbox_customers: int | None = None
    # segment -> (production size, sandbox size); 0 where a side lacks the segment.
    segments: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.production_rows != self.sandbox_rows or self.added_keys
                    or self.removed_keys or self.changed_amperity_ids
                    or any(a != b for a, b in self.segments.values()))


@dataclass
class DataDiff:
    tables: list[TableDiff]
    only_in_production: list[str]
    only_in_sandbox: list[str]

    def table(self, name: str) -> TableDiff:
        for diff in self.tables:
            if diff.table == name:
                return diff
        raise KeyError(f"no table {name!r} in both deployments; compared: "
                       f"{[d.table for d in self.tables]}")


def table_keys(config: "Tenant") -> dict[str, tuple[str, ...]]:
    """Primary keys of the tenant's domain tables, by table name (``domain/<name>``)."""
    keys = {f"domain/{feed.name}": tuple(feed.primary_key) for _, feed in config.feeds}
    keys.update({f"domain/{t.name}": tuple(t.primary_key)
                 for t in config.custom_domain_tables if t.primary_key})
    return keys


def list_tables(spark: "SparkSession", root: str) -> list[str]:
    """Delta tables under ``root`` (any Hadoop file system), as ``layer/.../name``."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    base = jvm.org.apache.hadoop.fs.Path(root)
    fs = base.getFileSystem(conf)
    found: list[str] = []

    def walk(path, rel: str) -> None:
        if fs.exists(jvm.org.apache.hadoop.fs.Path(path, "_delta_log")):
            found.append(rel)
            return
        for status in fs.listStatus(path):
            name = status.getPath().getName()
            if status.isDirectory() and not name.startswith(("_", ".")):
                walk(status.getPath(), f"{rel}/{name}")

    for layer in DIFF_LAYERS:
        path = jvm.org.apache.hadoop.fs.Path(base, layer)
        if fs.exists(path):
            walk(path, layer)
    return sorted(found)


def _key_strings(df: "DataFrame", key: tuple[str, ...]) -> "DataFrame":
    from pyspark.sql import functions as F

    # One string per key: tuples compare null-safely and print plainly.
    return df.select(F.concat_ws("|", *[F.coalesce(F.col(k).cast("string"), F.lit("∅"))
                                        for k in key]).alias("k")).distinct()


def _diff_table(spark: "SparkSession", name: str, prod: "DataFrame", sandbox: "DataFrame",
                key: tuple[str, ...]) -> TableDiff:
    from pyspark.sql import functions as F

    diff = TableDiff(table=name, production_rows=prod.count(), sandbox_rows=sandbox.count())
    common = set(prod.columns) & set(sandbox.columns)
    if not key or not set(key) <= common:
        key = next((k for k in FALLBACK_KEYS if set(k) <= common), ())
    if key:
        pk, sk = _key_strings(prod, key), _key_strings(sandbox, key)
        added, removed = sk.subtract(pk), pk.subtract(sk)
        diff.key = key
        diff.added_keys, diff.removed_keys = added.count(), removed.count()
        diff.added_sample = sorted(r["k"] for r in added.limit(SAMPLE_KEYS).collect())
        diff.removed_sample = sorted(r["k"] for r in removed.limit(SAMPLE_KEYS).collect())
    if {"record_id", "amperity_id"} <= common:
        joined = prod.select("record_id", F.col("amperity_id").alias("p")).join(
            sandbox.select("record_id", F.col("amperity_id").alias("s")), "record_id")
        diff.changed_amperity_ids = joined.where(~F.col("p").eqNullSafe(F.col("s"))).count()
        diff.production_customers = prod.select("amperity_id").distinct().count()
        diff.sandbox_customers = sandbox.select("amperity_id").distinct().count()
    if name.startswith("activation/") and "segment" in common:
        sizes: dict[str, list[int]] = {}
        for side, df in enumerate((prod, sandbox)):
            for row in df.groupBy("segment").count().collect():
                sizes.setdefault(str(row["segment"]), [0, 0])[side] = int(row["count"])
        diff.segments = {segment: (a, b) for segment, (a, b) in sorted(sizes.items())}
    return diff


def diff_data(spark: "SparkSession", production: Deployment, sandbox: Deployment,
              keys: dict[str, tuple[str, ...]] | None = None) -> DataDiff:
    """Compare the sandbox's tables with production's; read-only on both sides."""
    keys = keys or {}
    prod_tables = set(list_tables(spark, production.root))
    sandbox_tables = set(list_tables(spark, sandbox.root))
    tables = []
    for name in sorted(prod_tables & sandbox_tables):
        prod = spark.read.format("delta").load(f"{production.root}/{name}")
        box = spark.read.format("delta").load(f"{sandbox.root}/{name}")
        tables.append(_diff_table(spark, name, prod, box, keys.get(name, ())))
    return DataDiff(tables=tables, only_in_production=sorted(prod_tables - sandbox_tables),
                    only_in_sandbox=sorted(sandbox_tables - prod_tables))


def render(diff: DataDiff) -> str:
    """A plain-text report of a data diff, changed tables first."""
    lines = []
    for t in sorted(diff.tables, key=lambda t: (not t.changed, t.table)):
        mark = "*" if t.changed else " "
        line = f"{mark} {t.table}: rows {t.production_rows} -> {t.sandbox_rows}"
        if t.key:
            line += f"; keys ({', '.join(t.key)}) +{t.added_keys} -{t.removed_keys}"
        lines.append(line)
        if t.added_sample:
            lines.append(f"    added: {', '.join(t.added_sample)}")
        if t.removed_sample:
            lines.append(f"    removed: {', '.join(t.removed_sample)}")
        if t.changed_amperity_ids is not None:
            lines.append(f"    amperity_id changed for {t.changed_amperity_ids} record(s); "
                         f"customers {t.production_customers} -> {t.sandbox_customers}")
        for segment, (a, b) in t.segments.items():
            lines.append(f"    segment {segment}: {a} -> {b}")
    if diff.only_in_production:
        lines.append("only in production: " + ", ".join(diff.only_in_production))
    if diff.only_in_sandbox:
        lines.append("only in the sandbox: " + ", ".join(diff.only_in_sandbox))
    return "\n".join(lines) or "no materialized tables to compare"
