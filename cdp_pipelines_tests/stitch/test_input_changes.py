"""Stitch's input changes read from the domain tables' change data feed: a table at its
last version is not read, a table with new commits is read through its feed, and a table
without a feed (or re-created) is read whole and compared row by row."""

from __future__ import annotations

import shutil
from pathlib import Path

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.stitch.input_changes import (
    changes_since,
    input_versions,
    with_input_hash,
)
from cdp_pipelines.stitch.inputs import StitchTable, unified_input

SCHEMA = "id string, first string, email string, _updated string"
TABLES = [StitchTable("shop", "shop", ("id",), {"given_name": "first", "email": "email"}),
          StitchTable("club", "club", ("id",), {"email": "email"}),
          StitchTable("pos", "pos", ("id",), {"given_name": "first", "email": "email"})]


def _feed_on(lake: DeltaLake, table: str) -> bool:
    detail = lake.session.sql(f"DESCRIBE DETAIL delta.`{lake.path('domain', table)}`").first()
    return (detail["properties"] or {}).get("delta.enableChangeDataFeed") == "true"


def _raw(lake: DeltaLake, versions: dict):
    return with_input_hash(unified_input(lake, TABLES, {
        name: v["version"] for name, v in versions.items()}))


def _keys(frame) -> set[tuple[str, str]]:
    return {(r["source"], r["pk"]) for r in frame.select("source", "pk").collect()}


def test_changes_come_from_the_change_feed_of_the_tables_that_changed(tmp_path: Path,
                                                                       spark) -> None:
    from delta.tables import DeltaTable

    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"),
                                    Deployment(lake_root=str(tmp_path / "lake")))

    def frame(rows: list):
        return spark.createDataFrame([(*r, "2026-12-01 09:00:00") for r in rows], SCHEMA)

    def merge(table: str, rows: list) -> None:
        lake.merge(frame(rows), "domain", table, keys=("id",))

    merge("shop", [("s1", "Ann", "ann@x.com"), ("s2", "Bob", "bob@x.com"),
                   ("s5", "Eve", "eve@x.com")])
    merge("club", [("c1", None, "cy@x.com")])
    # Written around the lake (another tool): no change feed.
    frame([("p1", "Di", "di@x.com"), ("p2", "Ed", "ed@x.com")]).write.format("delta").save(
        lake.path("domain", "pos"))
    assert _feed_on(lake, "shop") and _feed_on(lake, "club") and not _feed_on(lake, "pos")

    last = input_versions(lake, TABLES)
    # Last run's rows, plus one of a table no longer marked for Stitch.
    previous = _raw(lake, last).localCheckpoint(eager=True)
    previous = previous.unionByName(previous.where("pk = 's1'").selectExpr(
        "'old_feed' AS source", *[c for c in previous.columns if c != "source"]))
    last = {**last, "old_feed": {"id": "gone", "version": 3}}

    merge("shop", [("s2", "Bob", "bob@new.com"), ("s3", "Cy", "cy@x.com")])
    shop = DeltaTable.forPath(spark, lake.path("domain", "shop"))
    shop.delete("id = 's1'")
    shop.delete("id = 's5'")
    merge("shop", [("s5", "Eve", "eve@new.com")])  # deleted, then back, changed
    pos = DeltaTable.forPath(spark, lake.path("domain", "pos"))
    pos.update("id = 'p1'", {"email": "'di@new.com'"})
    pos.delete("id = 'p2'")

    now = input_versions(lake, TABLES)
    raw = _raw(lake, now)
    changes = changes_since(lake, TABLES, raw, previous, last, now)
    shop_first = last["shop"]["version"] + 1
    assert changes.reads == {
        "shop": f"change feed (versions {shop_first}-{now['shop']['version']})",
        "club": "unchanged",
        "pos": f"read whole: no change feed for versions {last['pos']['version'] + 1}"
               f"-{now['pos']['version']}"}
    changed = {("shop", "s2"), ("shop", "s3"), ("shop", "s5"), ("pos", "p1")}
    assert _keys(changes.rows) == changed
    # Each changed record's row is its row now, input hash included.
    expected = raw.where(" OR ".join(f"(source = '{s}' AND pk = '{k}')" for s, k in changed))
    assert changes.rows.exceptAll(expected).isEmpty()
    assert expected.exceptAll(changes.rows).isEmpty()
    assert _keys(changes.gone) == {("shop", "s1"), ("pos", "p2"), ("old_feed", "s1")}

    # Re-created at the same path: another table, read whole; its unchanged rows are not
    # changes.
    shutil.rmtree(lake.path("domain", "club"))
    merge("club", [("c1", None, "cy@x.com"), ("c2", None, "di@x.com")])
    again = input_versions(lake, TABLES)
    changes = changes_since(lake, TABLES, _raw(lake, again), previous, now, again)
    assert changes.reads["club"] == "read whole: the table was re-created"
    assert _keys(changes.rows) == {("club", "c2")}

    # Rewritten whole (a custom table's overwrite): its feed would hold every row, so its
    # rows are compared instead; only the changed one is a change.
    rewritten = lake.overwrite(frame([("c1", None, "cy@x.com"), ("c2", None, "di@new.com")]),
                               "domain", "club")
    later = input_versions(lake, TABLES)
    changes = changes_since(lake, TABLES, _raw(lake, later), _raw(lake, again), again, later)
    assert changes.reads == {"shop": "unchanged", "pos": "unchanged",
                             "club": f"read whole: rewritten whole in version "
                                     f"{rewritten.version}"}
    assert _keys(changes.rows) == {("club", "c2")} and _keys(changes.gone) == set()
