"""Analysts' tools browse the catalog as each user: the Trino CLI, the trino DB-API with
information_schema, SQLAlchemy's inspector (what Superset calls) and the JDBC metadata
tables (what DBeaver reads). Restricted users never see a PII column's name."""

from __future__ import annotations

import pytest

from cdp_pipelines.resources import trino_auth
from cdp_pipelines.resources.trino import TrinoResource, TrinoResourceError
from cdp_pipelines_tests.resources.trino.conftest import csv_rows

ALL_COLUMNS = [("customer_id", "integer"), ("name", "varchar"), ("email", "varchar"),
               ("birthdate", "date")]
VISIBLE_COLUMNS = {
    "admin": ALL_COLUMNS,
    "analyst": ALL_COLUMNS,  # listed, but their values are masked
    "restricted": [("customer_id", "integer"), ("name", "varchar")],
}
USERS = sorted(VISIBLE_COLUMNS)


@pytest.mark.parametrize("user", USERS)
def test_trino_cli_lists_schemas_tables_and_columns(trino_cli, customers, user):
    schemas = trino_cli(user, "SHOW SCHEMAS FROM delta")
    assert schemas.returncode == 0, schemas.stderr
    assert {"c360", "information_schema"} <= {row[0] for row in csv_rows(schemas.stdout)}

    listed = trino_cli(user, "SHOW TABLES FROM delta.c360; DESCRIBE delta.c360.customers")
    assert listed.returncode == 0, listed.stderr
    rows = csv_rows(listed.stdout)
    assert "customers" in [row[0] for row in rows if len(row) == 1]
    assert [tuple(row[:2]) for row in rows if len(row) == 4] == VISIBLE_COLUMNS[user]


@pytest.mark.parametrize("user", USERS)
def test_dbapi_lists_through_information_schema(trino_server, customers, user):
    conn = TrinoResource.for_server(trino_server, user).connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT schema_name FROM delta.information_schema.schemata")
        assert "c360" in {row[0] for row in cur.fetchall()}
        assert [d[0] for d in cur.description] == ["schema_name"]
        cur.execute("SELECT table_name FROM delta.information_schema.tables "
                    "WHERE table_schema = 'c360'")
        assert "customers" in {row[0] for row in cur.fetchall()}
        cur.execute("SELECT column_name, data_type FROM delta.information_schema.columns "
                    "WHERE table_schema = 'c360' AND table_name = 'customers' "
                    "ORDER BY ordinal_position")
        assert [tuple(row) for row in cur.fetchall()] == VISIBLE_COLUMNS[user]
        cur.execute("SHOW COLUMNS FROM delta.c360.customers")
        assert [(row[0], row[1]) for row in cur.fetchall()] == VISIBLE_COLUMNS[user]
        # JDBC's DatabaseMetaData (DBeaver's navigator) reads system.jdbc.
        cur.execute("SELECT column_name FROM system.jdbc.columns WHERE table_cat = 'delta' "
                    "AND table_schem = 'c360' AND table_name = 'customers' "
                    "ORDER BY ordinal_position")
        assert [row[0] for row in cur.fetchall()] == [c for c, _ in VISIBLE_COLUMNS[user]]
    finally:
        conn.close()


@pytest.mark.parametrize("user", USERS)
def test_sqlalchemy_inspector_browses_as_superset_does(trino_server, customers, user):
    import sqlalchemy as sa
    import trino

    password = trino_server.password_file(user).read_text().strip()
    engine = sa.create_engine(
        f"trino://{user}@{trino_server.host}:{trino_server.port}/delta",
        connect_args={"auth": trino.auth.BasicAuthentication(user, password),
                      "http_scheme": "https",
                      "http_session": trino_auth.client_session(str(trino_server.ca_file))})
    try:
        inspector = sa.inspect(engine)
        assert "c360" in inspector.get_schema_names()
        assert "customers" in inspector.get_table_names("c360")
        columns = inspector.get_columns("customers", "c360")
        assert [c["name"] for c in columns] == [c for c, _ in VISIBLE_COLUMNS[user]]
        assert inspector.get_table_comment("customers", "c360") == {"text": None}
    finally:
        engine.dispose()


@pytest.mark.parametrize("sql", [
    "CREATE TABLE delta.c360.restricted_copy AS SELECT 1 AS x",
    "DROP TABLE delta.c360.customers",
    "CALL delta.system.flush_metadata_cache()",
])
def test_restricted_cannot_write_either(restricted, admin, customers, sql):
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        restricted.execute(sql)
    assert admin.execute(f"SELECT count(*) FROM {customers}") == [(2,)]
