import pytest

from cdp_pipelines.customer360.custom_sql import CustomSqlError, run_custom_table


@pytest.fixture(scope="module")
def views(spark):
    customers = spark.createDataFrame(
        [("A", "ann", 3), ("B", "bob", 0), ("C", None, 1)],
        "amperity_id string, given_name string, lifetime_order_count int",
    )
    return {"customer_360": customers}


def write(tmp_path, sql):
    path = tmp_path / "repeat_buyers.sql"
    path.write_text(sql)
    return path


def test_runs_sql_over_named_views(spark, views, tmp_path):
    sql = "-- repeat buyers\nSELECT amperity_id FROM customer_360\nWHERE lifetime_order_count > 1\n"
    result = run_custom_table(spark, sql, write(tmp_path, sql), views)
    assert [r["amperity_id"] for r in result.collect()] == ["A"]


def test_parse_error_names_file_line_and_column(spark, views, tmp_path):
    sql = (
        "-- repeat buyers\nSELECT amperity_id\nFROM customer_360\n"
        "WHERE lifetime_order_count > > 1\n"
    )
    path = write(tmp_path, sql)
    with pytest.raises(CustomSqlError) as info:
        run_custom_table(spark, sql, path, views)
    error = info.value
    assert (error.path, error.line, error.column) == (path, 4, 30)
    message = str(error)
    assert message.startswith(f"{path}, line 4, column 30: [PARSE_SYNTAX_ERROR]")
    assert "WHERE lifetime_order_count > > 1\n" + " " * 33 + "^" in message


def test_analysis_error_names_file_line_and_column(spark, views, tmp_path):
    sql = "SELECT amperity_id,\n       given_nme\nFROM customer_360\n"
    path = write(tmp_path, sql)
    with pytest.raises(CustomSqlError) as info:
        run_custom_table(spark, sql, path, views)
    assert (info.value.line, info.value.column) == (2, 8)
    assert str(info.value).startswith(
        f"{path}, line 2, column 8: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or "
        "function parameter with name `given_nme` cannot be resolved."
    )


def test_missing_view_is_reported_where_it_is_used(spark, views, tmp_path):
    sql = "SELECT *\nFROM customer_361\n"
    with pytest.raises(CustomSqlError, match=r"line 2, column 6: \[TABLE_OR_VIEW_NOT_FOUND\]"):
        run_custom_table(spark, sql, write(tmp_path, sql), views)


def test_error_without_position_still_names_file(spark, views, tmp_path):
    sql = "SELECT amperity_id FROM customer_360 GROUP BY given_name\n"
    path = write(tmp_path, sql)
    with pytest.raises(CustomSqlError) as info:
        run_custom_table(spark, sql, path, views)
    assert str(info.value).startswith(f"{path} (line unknown): [MISSING_AGGREGATION]")


def test_bad_view_name(spark, views, tmp_path):
    with pytest.raises(ValueError, match=r"view name 'c360-table'"):
        run_custom_table(spark, "SELECT 1", write(tmp_path, "SELECT 1"),
                         {"c360-table": views["customer_360"]})
