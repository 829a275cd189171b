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
