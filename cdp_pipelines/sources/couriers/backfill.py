"""Backfill: reload a courier's files of a date range on purpose.

A courier never lands the same file twice and a feed never loads the same file twice
(its ingest log). A backfill undoes both for the dates asked: it re-fetches the source
files of those dates (a file changed at the source replaces the landed copy) and removes
their entries from the ingest log, so the next materialization of the courier's domain
tables loads them again. REST and warehouse couriers cannot re-fetch the past (an API
pull is "now"; a warehouse is read from its watermark): their landed pulls of those
dates are reloaded. A sandbox never fetches: it only marks files for its own reload.

A file's date is the one in its name (pattern tokens), else its modification time.

CLI: ``python -m cdp_pipelines.sources.couriers.backfill COURIER START END``
(dates as YYYY-MM-DD, both inclusive).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.sources.couriers import FoundFile, land, landed_files
from cdp_pipelines.sources.patterns import FilePattern
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import CourierSpec, SourceSpec

if TYPE_CHECKING:
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.delta_io import DeltaLake

INGEST_LOG = ("_system", "ingest_log")


@dataclass
class BackfillResult:
    courier: str
    start: date
    end: date
    refetched: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    marked_for_reload: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)


def _as_date(value: date | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"backfill {what} {value!r} is not a date (YYYY-MM-DD)") from None


def find_courier(config: Tenant, name: str) -> tuple[SourceSpec, CourierSpec]:
    for source, courier in config.couriers:
        if courier.name == name:
            return source, courier
    known = sorted(c.name for _, c in config.couriers)
    raise ValueError(f"no courier named {name!r} in tenant {config.tenant.name}; "
                     f"couriers: {known}")


def mark_for_reload(lake: "DeltaLake", feeds: Sequence[str], files: Sequence[str]) -> None:
    """Forget that ``feeds`` loaded ``files`` (their next load reads them again)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not feeds or not files or not lake.exists(*INGEST_LOG):
        return
    table = DeltaTable.forPath(lake.session, lake.path_for_write(*INGEST_LOG))
    table.delete(F.col("feed").isin(list(feeds)) & F.col("file").isin(list(files)))


def backfill(courier: str | CourierSpec, start: date | str, end: date | str, *,
             config: Tenant | None = None, deployment: "Deployment | None" = None,
             lake: "DeltaLake | None" = None) -> BackfillResult:
    """Re-land and mark for reload the courier's files dated ``start``..``end`` (inclusive)."""
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.tenant import load_tenant

    deployment = deployment or get_deployment()
    config = config or load_tenant(deployment.tenant_dir)
    source, spec = find_courier(config, courier if isinstance(courier, str) else courier.name)
    first, last = _as_date(start, "start"), _as_date(end, "end")
    if first > last:
        raise ValueError(f"backfill of {spec.name}: start {first} is after end {last}")
    pattern = FilePattern(spec.pattern)
    result = BackfillResult(spec.name, first, last,
                            feeds=[f.name for f in source.feeds if f.courier == spec.name])

    def wanted(found: FoundFile) -> bool:
        when = pattern.file_date(found.relpath) or found.modified
        return first <= when.date() <= last

    if not deployment.is_sandbox and spec.type not in ("rest", "warehouse"):
        landing = lake_path(deployment.check_writable(
            deployment.path("landing", source.name, spec.name)))
        again = land(spec, landing, only=wanted, force=True)
        result.refetched = [f.relpath for f in again]
        result.changed = [f.relpath for f in again if f.newly_landed]
    landed = landed_files(spec, lake_path(deployment.landing_read_path(source.name, spec.name)))
    result.marked_for_reload = [
        f.relpath for f in landed
        if wanted(FoundFile(f.relpath, f.size, datetime.fromtimestamp(
            f.path.stat().st_mtime, tz=timezone.utc)))]
    if lake is None:
        from cdp_pipelines.resources.delta_io import DeltaLake
        from cdp_pipelines.resources.spark import SparkResource

        lake = DeltaLake.for_deployment(SparkResource.for_deployment(deployment),
                                        deployment)
    mark_for_reload(lake, result.feeds, result.marked_for_reload)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backfill", description="Re-land a courier's files of a date range and mark "
                                     "them for reload by its feeds.")
    parser.add_argument("courier", help="courier name, as in the tenant's sources/*.yaml")
    parser.add_argument("start", help="first file date, YYYY-MM-DD")
    parser.add_argument("end", help="last file date, YYYY-MM-DD (inclusive)")
    args = parser.parse_args(argv)
    result = backfill(args.courier, args.start, args.end)
    print(f"courier {result.courier}, {result.start}..{result.end}: "
          f"{len(result.refetched)} file(s) re-fetched ({len(result.changed)} changed), "
          f"{len(result.marked_for_reload)} marked for reload by feeds {result.feeds}; "
          "materialize those domain tables to reload them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
