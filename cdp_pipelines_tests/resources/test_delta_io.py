"""The lake's writes: an overwrite with the contents the table already holds commits no
new Delta version (issue 17: custom domain tables, Stitch and Customer 360 are rebuilt
with overwrites, and time travel must show real changes only)."""

from __future__ import annotations

from cdp_pipelines.resources import delta_io


def _versions(spark, path: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count()


def test_unchanged_contents_commit_nothing_and_changes_do(spark, tmp_path) -> None:
    path = str(tmp_path / "t")
    rows = [("a1", "WA", 3), ("a2", None, 1)]
    schema = "amperity_id string, state string, orders int"
    first = delta_io.overwrite(spark.createDataFrame(rows, schema), path)
    assert (first.rows, first.version) == (2, 0)

    # The same rows in another order and partitioning are the same contents.
    same = spark.createDataFrame(list(reversed(rows)), schema).repartition(3)
    again = delta_io.overwrite(same, path)
    assert (again.rows, again.version) == (2, 0) and _versions(spark, path) == 1

    changed = delta_io.overwrite(spark.createDataFrame([*rows, ("a3", "OR", 0)], schema), path)
    assert (changed.rows, changed.version) == (3, 1)
    # A duplicate row is a change too (contents are compared as multisets).
    dup = delta_io.overwrite(spark.createDataFrame([*rows, ("a3", "OR", 0), rows[0]], schema),
                             path)
    assert dup.version == 2
    # So is a new column, even with the same rows.
    wider = spark.createDataFrame([(*r, None) for r in rows], f"{schema}, email string")
    assert delta_io.overwrite(wider, path).version == 3


def test_replace_rows_writes_only_the_changed_rows(spark, tmp_path) -> None:
    path = str(tmp_path / "t")
    schema = "record_id string, amperity_id string, orders int"
    rows = [(f"r{i}", f"a{i % 3}", i) for i in range(6)]
    first = delta_io.overwrite(spark.createDataFrame(rows, schema).coalesce(1), path)
    assert first.version == 0

    # r1 moves to another customer, r7 is new, r4 is gone.
    whole = spark.createDataFrame(
        [r for r in rows if r[0] not in ("r1", "r4")] + [("r1", "a9", 1), ("r7", "a2", 7)],
        schema)
    upserts = whole.where("record_id IN ('r1', 'r7')")
    deletes = spark.createDataFrame([("r4",)], "record_id string")
    stats = delta_io.replace_rows(whole, path, ["record_id"], upserts, deletes)
    # Version 1 turned deletion vectors on, version 2 is the change.
    assert stats.version == 2 and stats.rows == 6 and stats.rows_changed == 3
    stored = spark.read.format("delta").load(path)
    assert sorted(stored.collect()) == sorted(whole.collect())
    # The file holding the four untouched rows was kept, their rows marked, not rewritten.
    assert int(stats.metrics["numTargetFilesRemoved"]) == 0
    assert int(stats.metrics["numTargetDeletionVectorsAdded"]) == 1
    assert int(stats.metrics.get("numTargetRowsCopied", 0)) == 0

    # Nothing to change commits nothing.
    empty = whole.limit(0)
    assert delta_io.replace_rows(whole, path, ["record_id"], empty, empty.select(
        "record_id")).version == 2
    # Other columns than the table's: the whole frame is written instead.
    wider = whole.withColumn("email", whole["amperity_id"])
    again = delta_io.replace_rows(wider, path, ["record_id"], wider.limit(0))
    assert again.version == 3 and again.rows == 6 and again.rows_changed == 6
    assert "email" in spark.read.format("delta").load(path).columns
    # No table yet: the same.
    fresh = delta_io.replace_rows(whole, str(tmp_path / "new"), ["record_id"], upserts)
    assert (fresh.version, fresh.rows) == (0, 6)


def test_domain_tables_record_their_change_feed_from_their_first_write(spark,
                                                                        tmp_path) -> None:
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.spark import SparkResource

    lake = delta_io.DeltaLake.for_deployment(
        SparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        Deployment(lake_root=str(tmp_path)))
    schema = "id string, email string"
    for layer in ("domain", "stitch"):
        lake.merge(spark.createDataFrame([("1", "a@x.com")], schema), layer, "t", keys=("id",))
        lake.merge(spark.createDataFrame([("1", "b@x.com"), ("2", "c@x.com")], schema), layer,
                   "t", keys=("id",))
    properties = {layer: spark.sql(f"DESCRIBE DETAIL delta.`{lake.path(layer, 't')}`")
                  .first()["properties"] for layer in ("domain", "stitch")}
    assert properties["domain"].get("delta.enableChangeDataFeed") == "true"
    assert "delta.enableChangeDataFeed" not in properties["stitch"]
    # The second merge, read back from the feed: one update, one insert.
    last = lake.version("domain", "t")
    changes = {(r["id"], r["email"], r["_change_type"]) for r in
               lake.read_changes("domain", "t", first=last, last=last).collect()}
    assert changes == {("1", "a@x.com", "update_preimage"), ("1", "b@x.com", "update_postimage"),
                       ("2", "c@x.com", "insert")}


def test_table_identity_changes_with_each_commit_and_each_re_creation(spark, tmp_path) -> None:
    import shutil

    path = str(tmp_path / "t")
    rows = spark.createDataFrame([("1", "a")], "id string, v string")
    delta_io.overwrite(rows, path)
    delta_io.append(rows, path)
    first = delta_io.table_identity(spark, path)
    assert first[1] == 1
    delta_io.append(rows, path)
    assert delta_io.table_identity(spark, path) == (first[0], 2)
    # Re-created at the same path: another id.
    delta_io.overwrite(rows, str(tmp_path / "u"))
    shutil.rmtree(path)
    shutil.copytree(tmp_path / "u", path)
    assert delta_io.table_identity(spark, path)[0] != first[0]
