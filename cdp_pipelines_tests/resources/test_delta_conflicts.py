"""Issue 17, case 5: two writers of one Delta table at once. Delta reports a conflict to
the one that commits second; the lake retries it (with a log line) instead of failing."""

from __future__ import annotations

import threading

import pytest

from cdp_pipelines.resources import delta_io


def test_a_conflict_is_retried_and_other_errors_are_not(monkeypatch) -> None:
    monkeypatch.setattr(delta_io.time, "sleep", lambda seconds: None)
    calls = []

    def conflicted_twice():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files "
                               "were added to the root of the table by a concurrent update.")
        return "written"

    assert delta_io._retry_conflicts(conflicted_twice, "/lake/t") == "written"
    assert len(calls) == 3

    def broken():
        calls.append(1)
        raise RuntimeError("[DELTA_MISSING_COLUMN] no such column")

    calls.clear()
    with pytest.raises(RuntimeError, match="DELTA_MISSING_COLUMN"):
        delta_io._retry_conflicts(broken, "/lake/t")
    assert len(calls) == 1


def test_two_concurrent_merges_into_one_table_both_land(spark, tmp_path) -> None:
    path = str(tmp_path / "table")
    spark.createDataFrame([(0, "seed")], "id int, v string").coalesce(1).write.format(
        "delta").save(path)
    errors = []

    def upsert(n: int) -> None:
        try:
            for i in range(3):
                row = spark.createDataFrame([(n * 10 + i, f"w{n}")], "id int, v string")
                delta_io.merge(row, path, keys=["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upsert, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = sorted(r["id"] for r in spark.read.format("delta").load(path).collect())
    assert ids == [0, 10, 11, 12, 20, 21, 22]
