"""Trino's file-based access control for the lake: who reads what, and PII masks.

:func:`build_access_rules` turns the PII columns of each published table into the rules of
Trino's file-based access control (admins read everything; analysts read published
schemas with PII columns masked; restricted users do not see PII columns at all);
:func:`write_rules_file` writes them atomically where a server reads them, the embedded
server's ``etc/rules.json`` (:func:`write_access_rules`) or an external one's.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# The catalog the embedded server (and docker/'s) serves the lake as.
CATALOG = "delta"
# How often a server re-reads its rules file (security.refresh-period).
RULES_REFRESH_SECONDS = 1

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_TYPE = re.compile(r"^[a-z][a-z0-9_ ]*(\([0-9, ]+\))?$")
_STRING_TYPES = re.compile(r"^(varchar|char)(\(\d+\))?$")
STRING_MASK = "'***'"



class AccessRulesError(ValueError):
    """A user name or PII rule that cannot be written into access rules safely."""


def _users_regex(users: Iterable[str], role: str) -> str | None:
    users = list(users)
    for user in users:
        if not _USER.match(user):
            raise AccessRulesError(
                f"{role} user name {user!r} is not allowed in access rules: use letters, "
                "digits, '_', '.', '@' and '-'."
            )
    return "|".join(re.escape(user) for user in users) or None


def _column_mask(column: str, column_type: str | None) -> str:
    if column_type is None or _STRING_TYPES.match(column_type):
        return STRING_MASK
    return f"CAST(NULL AS {column_type})"


def _pii_spec(
    key: tuple[str, str], columns: Sequence[str] | Mapping[str, str | None]
) -> dict[str, str | None]:
    schema, table = (part.lower() for part in key)
    typed = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    spec: dict[str, str | None] = {}
    for name in (schema, table, *typed):
        if not _IDENTIFIER.match(name.lower()):
            raise AccessRulesError(f"PII rule {key}: {name!r} is not a plain SQL identifier.")
    for column, column_type in typed.items():
        if column_type is not None:
            column_type = column_type.strip().lower()
            if not _TYPE.match(column_type):
                raise AccessRulesError(
                    f"PII rule {key}: column {column!r} has an unexpected type {column_type!r}."
                )
        spec[column.lower()] = column_type
    return spec


def build_access_rules(
    pii_columns: Mapping[tuple[str, str], Sequence[str] | Mapping[str, str | None]],
    admins: Sequence[str] = ("admin",),
    analysts: Sequence[str] = ("analyst",),
    restricted: Sequence[str] = ("restricted",),
) -> dict:
    """Trino file-based system access rules for the CDP's three kinds of user.

    ``pii_columns`` maps ``(schema, table)`` in catalog ``delta`` to its PII columns,
    either a list of names (string columns) or ``{name: trino_type}``. Admins may do
    anything. Analysts may SELECT every table of ``delta``; a PII column shows ``'***'``
    when it is a string (varchar/char or no type given) and NULL of its type otherwise.
    Restricted users may SELECT the same tables but PII columns are not accessible at
    all: naming one (or ``SELECT *``) fails, and DESCRIBE, SHOW COLUMNS and
    information_schema leave them out. Analysts and restricted users browse every schema
    of ``delta`` (SHOW SCHEMAS/TABLES, DESCRIBE, information_schema) and may read
    ``system.jdbc`` and ``system.metadata``, where JDBC clients (DBeaver) and SQLAlchemy
    (Superset) look for catalogs, tables and comments. Nobody else can run a query. Only
    admins can create, write, drop, or call procedures (such as ``register_table``).
    """
    admin_re = _users_regex(admins, "admin")
    analyst_re = _users_regex(analysts, "analyst")
    restricted_re = _users_regex(restricted, "restricted")
    readers_re = "|".join(r for r in (analyst_re, restricted_re) if r) or None
    catalog = re.escape(CATALOG)
    all_privileges = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]

    catalogs, schemas, tables, queries = [], [], [], []
    system_information, procedures = [], []
    if admin_re:
        catalogs.append({"user": admin_re, "catalog": ".*", "allow": "all"})
        schemas.append({"user": admin_re, "owner": True})
        tables.append({"user": admin_re, "privileges": all_privileges})
        queries.append({"user": admin_re, "allow": ["execute", "view", "kill"]})
        system_information.append({"user": admin_re, "allow": ["read", "write"]})
        procedures.append(
            {"user": admin_re, "catalog": ".*", "privileges": ["EXECUTE", "GRANT_EXECUTE"]}
        )
    if readers_re:
        catalogs.append({"user": readers_re, "catalog": f"{catalog}|system",
                         "allow": "read-only"})
        schemas.append({"user": readers_re, "owner": False})
        queries.append({"user": readers_re, "allow": ["execute"]})
    for key, columns in pii_columns.items():
        spec = _pii_spec(key, columns)
        where = {"catalog": catalog, "schema": key[0].lower(), "table": key[1].lower()}
        if analyst_re:
            tables.append({"user": analyst_re, **where, "privileges": ["SELECT"], "columns": [
                {"name": name, "mask": _column_mask(name, column_type)}
                for name, column_type in spec.items()
            ]})
        if restricted_re:
            tables.append({"user": restricted_re, **where, "privileges": ["SELECT"],
                           "columns": [{"name": name, "allow": False} for name in spec]})
    if readers_re:
        tables.append({"user": readers_re, "catalog": catalog, "privileges": ["SELECT"]})
        tables.append({"user": readers_re, "catalog": "system", "schema": "jdbc|metadata",
                       "privileges": ["SELECT"]})
    # The system catalog is open to everyone unless a rule says otherwise.
    catalogs.append({"catalog": ".*", "allow": "none"})
    return {
        "catalogs": catalogs,
        "schemas": schemas,
        "tables": tables,
        "procedures": procedures,
        "queries": queries,
        "system_information": system_information,
    }


def write_access_rules(
    home: Path,
    pii_columns: Mapping[tuple[str, str], Sequence[str] | Mapping[str, str | None]],
    admins: Sequence[str] = ("admin",),
    analysts: Sequence[str] = ("analyst",),
    restricted: Sequence[str] = ("restricted",),
) -> Path:
    """Write ``<home>/etc/rules.json`` (see :func:`build_access_rules`).

    The running server re-reads the file every second; it is replaced atomically so the
    server never reads half a file.
    """
    return write_rules_file(Path(home).resolve() / "etc" / "rules.json", pii_columns,
                            admins, analysts, restricted)


def write_rules_file(
    path: Path,
    pii_columns: Mapping[tuple[str, str], Sequence[str] | Mapping[str, str | None]],
    admins: Sequence[str] = ("admin",),
    analysts: Sequence[str] = ("analyst",),
    restricted: Sequence[str] = ("restricted",),
) -> Path:
    """Write a file-based access-control rules file at ``path``, atomically (any Trino
    whose ``security.config-file`` it is: the embedded server's, or a compose service's)."""
    rules = build_access_rules(pii_columns, admins, analysts, restricted)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".rules-{os.getpid()}.json")
    tmp.write_text(json.dumps(rules, indent=2) + "\n")
    tmp.replace(path)
    return path
