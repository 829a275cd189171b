"""The one PII rule: which columns hold personal data.

Every layer asks it: feeds (their fields' tags, or an explicit ``pii:``), Stitch outputs,
Customer 360 tables, the masks Trino applies for analysts and the previews in the Dagster
UI. A leaf module, so tenant models and every layer can import it.

Personal data are the values that point at one person: names, email, phone, street
address, postal code and birthdate, and the forms Stitch derives from them
(``email_norm``, ``phone_e164``, ``given_name_soundex``, ...) or keep as people wrote
them (``given_name_display``, ``address_display``). City, state, country and gender alone
do not, and stay readable for analysts' breakdowns.
"""

from __future__ import annotations

from collections.abc import Iterable

# Semantic tags whose fields are personal data unless a field says `pii: false`.
PII_TAGS = frozenset({
    "given-name", "surname", "full-name", "email", "phone", "address", "address2",
    "birthdate", "postal",
})
# The columns the platform itself names after those tags (Stitch, Customer 360).
PII_FIELDS = frozenset(tag.replace("-", "_") for tag in PII_TAGS)
# Suffixes of the forms Stitch derives from a PII field, and of the value as written
# (``_display``, beside the normalised match key); each still identifies a person.
_DERIVED = ("_full_norm", "_norm", "_e164", "_canonical", "_forms", "_soundex", "_display")
# Tables whose generic columns hold PII values: the blocklist keeps the blocked values.
_TABLE_COLUMNS = {"stitch_blocklist_values": frozenset({"value"})}


def is_pii_tagged(tags: Iterable[str], explicit: bool | None = None) -> bool:
    """A feed field is PII if it says so, else if any of its tags is a PII tag."""
    if explicit is not None:
        return explicit
    return any(tag in PII_TAGS for tag in tags)


def is_pii_column(column: str, table: str | None = None) -> bool:
    """Does a column of the platform's own tables (named after the tags) hold PII?"""
    if column in PII_FIELDS or column in _TABLE_COLUMNS.get(table or "", ()):
        return True
    return any(column.endswith(s) and column[: -len(s)] in PII_FIELDS for s in _DERIVED)


def pii_columns(columns: Iterable[str], table: str | None = None,
                tenant_pii: Iterable[str] = ()) -> list[str]:
    """The PII columns among ``columns`` of ``table``, in order: the platform's own names
    plus ``tenant_pii``, the names of the tenant's feed fields that are PII."""
    tenant_pii = set(tenant_pii)
    return [c for c in columns if c in tenant_pii or is_pii_column(c, table)]
