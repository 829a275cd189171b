"""File-based access control on the real server: admins, analysts, restricted, strangers."""

from __future__ import annotations

import pytest

from cdp_pipelines.resources.trino import TrinoResource, TrinoResourceError
from cdp_pipelines.resources.trino_access import AccessRulesError, build_access_rules
from cdp_pipelines_tests.conftest import TRINO_STRANGER


def test_admin_sees_raw_pii(admin, customers):
    assert admin.execute(f"SELECT email, birthdate IS NOT NULL FROM {customers} ORDER BY 1") == [
        ("ada@example.com", True),
        ("bob@example.com", True),
    ]


def test_analyst_sees_masked_pii(analyst, customers):
    rows = analyst.execute(f"SELECT customer_id, name, email, birthdate FROM {customers} ORDER BY 1")
    assert rows == [(1, "Ada", "***", None), (2, "Bob", "***", None)]


def test_analyst_cannot_filter_on_the_raw_value(analyst, customers):
    # The mask applies before the WHERE clause: probing for a known email finds nothing.
    assert analyst.execute(
        f"SELECT count(*) FROM {customers} WHERE email = 'ada@example.com'") == [(0,)]


def test_restricted_cannot_select_pii(restricted, customers):
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        restricted.execute(f"SELECT email FROM {customers}")
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        restricted.execute(f"SELECT * FROM {customers}")


def test_restricted_reads_non_pii_columns(restricted, customers):
    rows = restricted.execute(f"SELECT customer_id, name FROM {customers} ORDER BY 1")
    assert rows == [(1, "Ada"), (2, "Bob")]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE delta.c360.analyst_copy AS SELECT 1 AS x",
        "INSERT INTO delta.c360.customers (customer_id) VALUES (3)",
        "DELETE FROM delta.c360.customers",
        "DROP TABLE delta.c360.customers",
        "CREATE SCHEMA delta.analyst_schema",
        "CALL delta.system.unregister_table(schema_name => 'c360', table_name => 'customers')",
    ],
)
def test_analyst_cannot_write(analyst, admin, customers, sql):
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        analyst.execute(sql)
    assert admin.execute(f"SELECT count(*) FROM {customers}") == [(2,)]


def test_unknown_user_gets_nothing(trino_server, customers):
    # mallory logs in (a password of the server's) but no access rule names mallory.
    stranger = TrinoResource.for_server(trino_server, TRINO_STRANGER)
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        stranger.execute(f"SELECT customer_id FROM {customers}")
    with pytest.raises(TrinoResourceError, match="Access Denied"):
        stranger.execute("SELECT 1")


def test_rules_mask_by_type_and_reject_bad_names():
    rules = build_access_rules({("c360", "people"): {"email": "varchar", "dob": "date"},
                                ("c360", "loyalty"): ["phone"]})
    analyst_masks = {
        (rule["table"], col["name"]): col["mask"]
        for rule in rules["tables"] if rule.get("user") == "analyst" and "columns" in rule
        for col in rule["columns"]
    }
    assert analyst_masks == {
        ("people", "email"): "'***'",
        ("people", "dob"): "CAST(NULL AS date)",
        ("loyalty", "phone"): "'***'",
    }
    with pytest.raises(AccessRulesError, match="not a plain SQL identifier"):
        build_access_rules({("c360", "people"): ["email) OR (1=1"]})
    with pytest.raises(AccessRulesError, match="user name"):
        build_access_rules({}, analysts=("a|.*",))
