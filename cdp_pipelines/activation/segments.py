"""Segments: a small condition language compiled to one Trino SELECT of amperity_id.

``activation/segments.yaml``::

    segments:
      - name: lapsed_vips
        description: High spenders who have not ordered for 90 days
        condition:
          all:
            - {attribute: lifetime_revenue, operator: ">=", value: 500}
            - {attribute: latest_order_date, operator: not_in_last, value: "90 days"}
            - any:
                - {attribute: state, operator: in, value: [WA, OR]}
                - {attribute: customer_attributes.contactable_email, operator: "=", value: true}
      - name: hand_written
        sql: SELECT amperity_id FROM c360.customer_360 WHERE lifetime_order_count > 3

A condition is a group (``all``: every member holds, ``any``: at least one holds; groups
nest) or a leaf ``{attribute, operator, value}``. Attributes are columns of
``customer_360``, ``transaction_attributes``, ``customer_attributes`` or
``computed_traits`` (traits from events, see ``computed_traits.yaml``), written
``table.column`` or as a bare name; a bare name resolves to ``customer_360`` (which holds
the other two tables' columns) and otherwise to the one table that has it.

Operators and NULLs: a NULL value never matches a comparison, ``in``, ``between``,
``contains``, ``starts_with``, ``in_last``, ``before`` or ``after``; the negative
operators ``!=``, ``not_in`` and ``not_in_last`` do match NULL (a customer without a
state is "not in WA"; one who never ordered has "not ordered in the last 90 days").
``in_last: "N days|weeks|months|years"`` holds for dates in (today - N, today];
``before``/``after`` compare the value's date part, strictly. Values are bound as query
parameters, never pasted into SQL text.

Operators and value types are checked when the file is loaded; attributes and their
column types are checked when the segment is compiled, against the columns Trino reports
(:func:`read_columns`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from cdp_pipelines.tenant.audiences import SEGMENTS_FILE
from cdp_pipelines.tenant.conditions import (
    ATTRIBUTE,
    ATTRIBUTE_TABLES,
    COMPARISONS,
    Condition,
    Leaf,
    as_date,
    parse_period,
)

if TYPE_CHECKING:
    from cdp_pipelines.resources.trino import TrinoResource

_NUMERIC = ("tinyint", "smallint", "integer", "bigint", "real", "double", "decimal")


class SegmentError(ValueError):
    """A segment cannot be compiled (unknown attribute, operator on the wrong column type)."""


# --------------------------------------------------------------------------- compiling

Columns = dict[str, dict[str, str]]  # table -> column -> Trino type


def read_columns(trino: "TrinoResource", schema: str) -> Columns:
    """The attribute tables' columns as Trino reports them (tables not published are left out)."""
    from cdp_pipelines.resources.trino import quote_identifier

    catalog = quote_identifier(trino.catalog, "catalog")
    rows = trino.execute(
        f"SELECT table_name, column_name, data_type FROM {catalog}.information_schema.columns "
        f"WHERE table_schema = ? AND table_name IN ({', '.join('?' * len(ATTRIBUTE_TABLES))}) "
        "ORDER BY table_name, ordinal_position",
        [schema.lower(), *ATTRIBUTE_TABLES],
    )
    out: Columns = {}
    for table, column, data_type in rows:
        out.setdefault(table, {})[column] = data_type
    return out


def _family(data_type: str) -> str:
    base = data_type.split("(")[0].strip()
    if base in _NUMERIC:
        return "number"
    if base in ("varchar", "char"):
        return "text"
    if base == "date" or base.startswith("timestamp"):
        return "date"
    if base == "boolean":
        return "boolean"
    return "other"


def _value_family(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, date):
        return "date"
    return "text"


def _minus(today: date, amount: int, unit: str) -> date:
    if unit == "day":
        return today - timedelta(days=amount)
    if unit == "week":
        return today - timedelta(weeks=amount)
    months = amount * (12 if unit == "year" else 1)
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    # Clamp to the month's last day (31 March minus one month is 28/29 February).
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


@dataclass
class _Compiler:
    columns: Columns
    today: date
    segment: str
    file: str = SEGMENTS_FILE

    def __post_init__(self) -> None:
        self.params: list[Any] = []
        self.tables: set[str] = set()

    def _fail(self, message: str) -> SegmentError:
        return SegmentError(f"{self.file}: segment {self.segment!r}: {message}")

    def resolve(self, attribute: str) -> tuple[str, str, str]:
        """(table, column, Trino type) of an attribute."""
        table, column = ATTRIBUTE.match(attribute).groups()
        if table is not None:
            if table not in ATTRIBUTE_TABLES:
                raise self._fail(f"unknown attribute {attribute!r}: table {table!r} is not one "
                                 f"of {', '.join(ATTRIBUTE_TABLES)}")
            if column not in self.columns.get(table, {}):
                raise self._fail(f"unknown attribute {attribute!r}: {table} has no column "
                                 f"{column!r} (published columns: "
                                 f"{', '.join(self.columns.get(table, {})) or 'none'})")
            return table, column, self.columns[table][column]
        if column in self.columns.get("customer_360", {}):
            return "customer_360", column, self.columns["customer_360"][column]
        having = [t for t in ATTRIBUTE_TABLES if column in self.columns.get(t, {})]
        if not having:
            known = sorted({c for cols in self.columns.values() for c in cols})
            raise self._fail(f"unknown attribute {attribute!r}; known attributes: "
                             f"{', '.join(known) or 'none (is Customer 360 published?)'}")
        if len(having) > 1:
            raise self._fail(f"attribute {attribute!r} is ambiguous: it is a column of "
                             f"{' and '.join(having)}; write table.column")
        return having[0], column, self.columns[having[0]][column]

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def leaf(self, leaf: Leaf) -> str:
        table, column, data_type = self.resolve(leaf.attribute)
        self.tables.add(table)
        col = f'{_ALIASES[table]}."{column}"'
        family = _family(data_type)
        op, value = leaf.operator, leaf.value

        def need(*families: str) -> None:
            if family not in families:
                raise self._fail(f"operator {op!r} needs a {' or '.join(families)} attribute; "
                                 f"{leaf.attribute!r} is {data_type}")

        def check(v: Any) -> Any:
            kind = _value_family(v)
            if family == "date" and kind == "text":
                return as_date(v, f"attribute {leaf.attribute!r}")
            if family != "other" and kind != family:
                raise self._fail(f"attribute {leaf.attribute!r} is {data_type}, but the value "
                                 f"{v!r} of operator {op!r} is {kind}")
            return v

        if op == "is_null":
            return f"{col} IS NULL"
        if op == "not_null":
            return f"{col} IS NOT NULL"
        if op in COMPARISONS:
            sql_op = "<>" if op == "!=" else op
            text = f"{col} {sql_op} {self.bind(check(value))}"
            return f"({col} IS NULL OR {text})" if op == "!=" else text
        if op in ("in", "not_in"):
            marks = ", ".join(self.bind(check(v)) for v in value)
            if op == "in":
                return f"{col} IN ({marks})"
            return f"({col} IS NULL OR {col} NOT IN ({marks}))"
        if op == "between":
            low, high = (check(v) for v in value)
            return f"{col} BETWEEN {self.bind(low)} AND {self.bind(high)}"
        if op in ("contains", "starts_with"):
            need("text")
            # strpos/starts_with, not LIKE: '%' and '_' in a value are plain characters.
            if op == "contains":
                return f"strpos({col}, {self.bind(value)}) > 0"
            return f"starts_with({col}, {self.bind(value)})"
        need("date")
        day = f"CAST({col} AS date)"
        if op in ("in_last", "not_in_last"):
            start = _minus(self.today, *parse_period(value))
            inside = f"{day} > {self.bind(start)} AND {day} <= {self.bind(self.today)}"
            return f"({inside})" if op == "in_last" else f"({col} IS NULL OR NOT ({inside}))"
        return f"{day} {'<' if op == 'before' else '>'} {self.bind(value)}"

    def condition(self, condition: Condition) -> str:
        if isinstance(condition, Leaf):
            return self.leaf(condition)
        joiner = " AND " if condition.kind == "all" else " OR "
        return "(" + joiner.join(self.condition(m) for m in condition.members) + ")"


_ALIASES = {"customer_360": "c", "transaction_attributes": "t", "customer_attributes": "a",
            "computed_traits": "e"}


def compile_condition(
    condition: Condition, columns: Columns, schema: str, today: date, segment: str,
    catalog: str = "delta",
) -> tuple[str, list[Any]]:
    """``(sql, params)``: one Trino SELECT of the distinct amperity_ids that satisfy ``condition``.

    ``schema`` holds the attribute tables (``c360``, or ``<sandbox>_c360``); ``today``
    anchors relative dates; ``segment`` names the segment in error messages.
    """
    compiler = _Compiler(columns, today, segment)
    where = compiler.condition(condition)
    if "customer_360" not in columns:
        raise compiler._fail(f"table {schema}.customer_360 is not published in Trino; "
                             "materialize c360/trino_publication first")
    joins = "".join(
        f' LEFT JOIN "{catalog}"."{schema}"."{t}" {_ALIASES[t]} '
        f"ON {_ALIASES[t]}.amperity_id = c.amperity_id"
        for t in ATTRIBUTE_TABLES[1:] if t in compiler.tables
    )
    sql = (f'SELECT DISTINCT c.amperity_id FROM "{catalog}"."{schema}"."customer_360" c{joins} '
           f"WHERE c.amperity_id IS NOT NULL AND {where}")
    return sql, compiler.params
