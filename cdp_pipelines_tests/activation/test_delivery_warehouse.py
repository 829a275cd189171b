"""deliver() to a real PostgreSQL table, read back."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from cdp_pipelines.activation.destinations import deliver
from cdp_pipelines.tenant.delivery import DestinationSpec

DAY = date(2026, 11, 23)


def test_rows_land_in_the_table_once_and_append_adds_a_treatment(
    postgres, monkeypatch, audience, template, deployment, log
):
    monkeypatch.setenv("DELIVERY_PG_PASSWORD", postgres.password)
    options = {"host": postgres.host, "port": postgres.port, "database": postgres.database,
               "username": postgres.user, "password_env": "DELIVERY_PG_PASSWORD"}
    destination = DestinationSpec(name="dwh", type="warehouse", options=options,
                                  table="spring_recipients", schema="public", mode="append")

    def run(frame, treatment):
        return deliver(frame, destination, template, orchestration="daily", treatment=treatment,
                       campaign="spring", delivery_date=DAY, deployment=deployment, log=log)

    first = run(audience, "a")
    repeat = run(audience, "a")
    other = run(audience.iloc[:2], "b")

    assert (first.status, first.rows, first.target) == ("sent", 5, "public.spring_recipients")
    assert repeat.status == "skipped" and other.status == "sent"
    engine = sa.create_engine(
        sa.engine.URL.create("postgresql+psycopg2", username=postgres.user,
                             password=postgres.password, host=postgres.host, port=postgres.port,
                             database=postgres.database)
    )
    try:
        table = pd.read_sql('SELECT * FROM public.spring_recipients ORDER BY customer_id', engine)
    finally:
        engine.dispose()
    assert list(table.columns) == ["customer_id", "Email", "First Name", "ltv", "list"]
    assert table["customer_id"].tolist() == ["a1", "a1", "a2", "a2", "a4", "a5", "a6"]
    assert table.loc[table["customer_id"] == "a4", "First Name"].item() == "Dée"
    assert postgres.password not in repr(first)
