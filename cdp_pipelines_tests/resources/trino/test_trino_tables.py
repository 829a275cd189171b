"""Delta tables written by Spark, registered in and read through a real Trino server."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from cdp_pipelines.resources.trino import (
    TrinoResourceError,
    quote_identifier,
    table_location,
)


def test_registered_delta_table_reads_spark_rows(admin, customers):
    rows = admin.execute(f"SELECT customer_id, name, email, birthdate FROM {customers} ORDER BY 1")
    assert rows == [
        (1, "Ada", "ada@example.com", date(1990, 1, 2)),
        (2, "Bob", "bob@example.com", date(1985, 6, 30)),
    ]


def test_query_df_returns_named_columns(admin, customers):
    df = admin.query_df(f"SELECT name, customer_id * 10 AS tenfold FROM {customers} ORDER BY 2")
    assert list(df.columns) == ["name", "tenfold"]
    assert df["name"].tolist() == ["Ada", "Bob"]
    assert df["tenfold"].tolist() == [10, 20]


def test_registered_location_is_a_file_uri(admin, customers, customers_path):
    assert admin.table_location("c360", "customers").rstrip("/") == f"file://{customers_path}"
    assert admin.table_location("c360", "no_such_table") is None


def test_reregister_follows_new_version_and_new_location(spark, admin, trino_lake):
    first = trino_lake / "c360" / "orders_v1"
    second = trino_lake / "c360" / "orders_v2"
    spark.createDataFrame([(1, 10.0)], "order_id INT, amount DOUBLE").write.format(
        "delta").save(str(first))
    admin.register_delta_table("c360", "orders", first)
    assert admin.execute("SELECT count(*) FROM delta.c360.orders") == [(1,)]

    spark.createDataFrame([(2, 20.0), (3, 30.0)], "order_id INT, amount DOUBLE").write.format(
        "delta").mode("append").save(str(first))
    admin.register_delta_table("c360", "orders", first)
    assert admin.execute("SELECT sum(amount) FROM delta.c360.orders") == [(60.0,)]

    # A rebuilt table at a new path: the registration moves, the old rows are gone.
    spark.createDataFrame([(7, 1.5)], "order_id INT, amount DOUBLE").write.format(
        "delta").save(str(second))
    assert admin.register_delta_table("c360", "orders", second) == f"file://{second}"
    assert admin.execute("SELECT order_id, amount FROM delta.c360.orders") == [(7, 1.5)]
    assert admin.table_location("c360", "orders").rstrip("/") == f"file://{second}"


@pytest.mark.parametrize(
    "name", ["x; DROP TABLE t", 'a"b', "1abc", "", "a.b", "robert'); --"]
)
def test_identifiers_are_validated(admin, name):
    with pytest.raises(ValueError, match="not a plain identifier"):
        quote_identifier(name)
    with pytest.raises(ValueError, match="not a plain identifier"):
        admin.register_delta_table("c360", name, "/tmp/nowhere")


def test_table_location_of_local_paths(tmp_path):
    assert table_location(tmp_path / "t") == f"file://{tmp_path}/t"
    assert table_location(f"file://{tmp_path}/a/../t") == f"file://{tmp_path}/t"
    # Spark writes s3a://; Trino's native S3 file system reads the same objects as s3://.
    assert table_location("s3a://bucket/lake/t/") == "s3://bucket/lake/t"


def test_table_stays_queryable_while_republished(spark, admin, analyst, trino_lake):
    path = str(trino_lake / "c360" / "visits")

    def write(n: int, extra_column: bool = False) -> None:
        frame = spark.range(n).selectExpr("id AS visit_id", *(["'web' AS channel"]
                                                              if extra_column else []))
        frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)

    write(3)
    admin.register_delta_table("c360", "visits", path)
    failures: list[str] = []
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(analyst.execute("SELECT count(*) FROM delta.c360.visits")[0][0])
            except TrinoResourceError as exc:
                failures.append(str(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in (4, 5):
            write(n)
            for _ in range(3):  # publishing again without a change is harmless too
                admin.register_delta_table("c360", "visits", path)
            # The new version is what the next query reads, right after publishing.
            assert admin.execute("SELECT count(*) FROM delta.c360.visits") == [(n,)]
        write(6, extra_column=True)
        admin.register_delta_table("c360", "visits", path)
        assert [r[0] for r in admin.execute("DESCRIBE delta.c360.visits")] == [
            "visit_id", "channel"]
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert seen and seen <= {3, 4, 5, 6}


def test_rows_replaced_over_deletion_vectors_read_the_same(spark, admin, trino_lake):
    # Incremental Stitch rewrites only the changed rows of its tables (a MERGE over
    # deletion vectors); Trino's Delta connector must read what Spark reads.
    from cdp_pipelines.resources import delta_io

    path = str(trino_lake / "c360" / "coalesced")
    schema = "record_id STRING, amperity_id STRING"
    delta_io.overwrite(spark.createDataFrame(
        [("r1", "a1"), ("r2", "a1"), ("r3", "a2")], schema).coalesce(1), path)
    whole = spark.createDataFrame([("r1", "a1"), ("r2", "a3"), ("r4", "a2")], schema)
    delta_io.replace_rows(whole, path, ["record_id"], whole.where("record_id != 'r1'"),
                          spark.createDataFrame([("r3",)], "record_id STRING"))
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]["properties"]
    assert properties["delta.enableDeletionVectors"] == "true"
    admin.register_delta_table("c360", "coalesced", path)
    assert admin.execute("SELECT record_id, amperity_id FROM delta.c360.coalesced "
                         "ORDER BY 1") == [("r1", "a1"), ("r2", "a3"), ("r4", "a2")]
