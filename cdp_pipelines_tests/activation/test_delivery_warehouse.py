"""deliver() to a real PostgreSQL table, read back; exactly once across a crash between
the warehouse commit and the delivery log, and when the same delivery starts twice."""

from __future__ import annotations

import threading
from datetime import date

import pandas as pd
import sqlalchemy as sa

from cdp_pipelines.activation.delivery_log import DeliveryLog
from cdp_pipelines.activation.destinations import deliver
from cdp_pipelines.tenant.delivery import DestinationSpec

DAY = date(2026, 11, 23)


def _destination(postgres, monkeypatch, table: str) -> DestinationSpec:
    monkeypatch.setenv("DELIVERY_PG_PASSWORD", postgres.password)
    options = {"host": postgres.host, "port": postgres.port, "database": postgres.database,
               "username": postgres.user, "password_env": "DELIVERY_PG_PASSWORD"}
    return DestinationSpec(name="dwh", type="warehouse", options=options, table=table,
                           schema="public", mode="append")


def _read(postgres, sql: str) -> pd.DataFrame:
    engine = sa.create_engine(
        sa.engine.URL.create("postgresql+psycopg2", username=postgres.user,
                             password=postgres.password, host=postgres.host, port=postgres.port,
                             database=postgres.database)
    )
    try:
        return pd.read_sql(sql, engine)
    finally:
        engine.dispose()


def test_rows_land_in_the_table_once_and_append_adds_a_treatment(
    postgres, monkeypatch, audience, template, deployment, log
):
    destination = _destination(postgres, monkeypatch, "spring_recipients")

    def run(frame, treatment):
        return deliver(frame, destination, template, orchestration="daily", treatment=treatment,
                       campaign="spring", delivery_date=DAY, deployment=deployment, log=log)

    first = run(audience, "a")
    repeat = run(audience, "a")
    other = run(audience.iloc[:2], "b")

    assert (first.status, first.rows, first.target) == ("sent", 5, "public.spring_recipients")
    assert repeat.status == "skipped" and other.status == "sent"
    table = _read(postgres, "SELECT * FROM public.spring_recipients ORDER BY customer_id")
    assert list(table.columns) == ["customer_id", "Email", "First Name", "ltv", "list"]
    assert table["customer_id"].tolist() == ["a1", "a1", "a2", "a2", "a4", "a5", "a6"]
    assert table.loc[table["customer_id"] == "a4", "First Name"].item() == "Dée"
    assert postgres.password not in repr(first)


def test_a_crash_between_the_warehouse_and_the_log_sends_nothing_again(
    postgres, monkeypatch, audience, template, deployment, log
):
    destination = _destination(postgres, monkeypatch, "crash_recipients")

    def run():
        return deliver(audience, destination, template, orchestration="nightly", treatment="a",
                       campaign="spring", delivery_date=DAY, deployment=deployment, log=log)

    def crash(self, entry):
        raise SystemExit("killed after the warehouse committed, before the log was written")

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryLog, "record", crash)
        try:
            run()
        except SystemExit:
            pass
    assert not [e for e in log.entries() if e.orchestration == "nightly"]
    retry = run()
    assert retry.status == "skipped" and "already holds these 5 rows" in retry.message
    assert len(_read(postgres, "SELECT * FROM public.crash_recipients")) == 5
    assert run().status == "skipped"  # and the log now knows


def test_two_identical_deliveries_at_once_send_once(
    postgres, monkeypatch, audience, template, deployment, log
):
    destination = _destination(postgres, monkeypatch, "twin_recipients")
    results, errors = [], []

    def run():
        try:
            results.append(deliver(audience, destination, template, orchestration="twins",
                                   treatment="a", campaign="spring", delivery_date=DAY,
                                   deployment=deployment, log=log))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.status for r in results) == ["sent", "skipped"]
    assert len(_read(postgres, "SELECT * FROM public.twin_recipients")) == 5
