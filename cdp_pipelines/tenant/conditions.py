"""The segment condition language, as tenant files write it (segments, campaigns'
sub-audiences), parsed and checked on load. :mod:`cdp_pipelines.activation.segments`
compiles a parsed condition to SQL against the columns Trino reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

ATTRIBUTE_TABLES = ("customer_360", "transaction_attributes", "customer_attributes",
                    "computed_traits")
COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
OPERATORS = COMPARISONS + (
    "in", "not_in", "between", "is_null", "not_null", "contains", "starts_with",
    "in_last", "not_in_last", "before", "after",
)
_PERIOD = re.compile(r"^\s*(\d+)\s+(day|week|month|year)s?\s*$")
ATTRIBUTE = re.compile(r"^(?:([a-z][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")


@dataclass(frozen=True)
class Leaf:
    attribute: str
    operator: str
    value: Any = None


@dataclass(frozen=True)
class Group:
    kind: str  # "all" | "any"
    members: tuple["Leaf | Group", ...]


Condition = Leaf | Group


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, date))


def as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}.value: expected a date (YYYY-MM-DD), got {value!r}")


def parse_period(text: str) -> tuple[int, str]:
    """``"90 days"`` -> ``(90, "day")``."""
    match = _PERIOD.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a period such as '90 days', '6 weeks', '3 months' or "
                         f"'1 year', got {text!r}")
    return int(match.group(1)), match.group(2)


def _check_value(operator: str, value: Any, where: str) -> Any:
    """The leaf's value, checked (and dates normalised) for its operator."""
    if operator in ("is_null", "not_null"):
        if value is not None:
            raise ValueError(f"{where}.value: operator {operator!r} takes no value")
        return None
    if value is None:
        raise ValueError(f"{where}.value: operator {operator!r} needs a value")
    if operator in COMPARISONS:
        if not _scalar(value):
            raise ValueError(f"{where}.value: operator {operator!r} needs a single value "
                             f"(text, number, true/false or date), got {value!r}")
        return value
    if operator in ("in", "not_in"):
        if not isinstance(value, (list, tuple)) or not value or not all(map(_scalar, value)):
            raise ValueError(f"{where}.value: operator {operator!r} needs a non-empty list of "
                             f"values, got {value!r}")
        return tuple(value)
    if operator == "between":
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(map(_scalar, value)):
            raise ValueError(f"{where}.value: 'between' needs [low, high], got {value!r}")
        return tuple(value)
    if operator in ("contains", "starts_with"):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}.value: operator {operator!r} needs non-empty text, "
                             f"got {value!r}")
        return value
    if operator in ("in_last", "not_in_last"):
        try:
            parse_period(value)
        except ValueError as exc:
            raise ValueError(f"{where}.value: {exc}") from None
        return value
    return as_date(value, where)  # before / after


def parse_condition(data: Any, where: str = "condition") -> Condition:
    """A condition from its YAML form; errors name the field, e.g. ``condition.all[1].operator``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping ({{all: [...]}}, {{any: [...]}} or "
                         f"{{attribute, operator, value}}), got {data!r}")
    groups = [k for k in ("all", "any") if k in data]
    if groups:
        if len(data) != 1:
            raise ValueError(f"{where}: a group has exactly one key, 'all' or 'any'; got "
                             f"{sorted(data)}")
        kind = groups[0]
        members = data[kind]
        if not isinstance(members, list) or not members:
            raise ValueError(f"{where}.{kind}: expected a non-empty list of conditions")
        return Group(kind, tuple(parse_condition(m, f"{where}.{kind}[{i}]")
                                 for i, m in enumerate(members)))
    unknown = sorted(set(data) - {"attribute", "operator", "value"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; a condition is {{all: [...]}}, "
                         "{any: [...]} or {attribute, operator, value}")
    for key in ("attribute", "operator"):
        if key not in data:
            raise ValueError(f"{where}.{key}: required")
    attribute, operator = data["attribute"], data["operator"]
    if not isinstance(attribute, str) or not ATTRIBUTE.match(attribute):
        raise ValueError(f"{where}.attribute: {attribute!r} is not a column name "
                         "('column' or 'table.column')")
    if operator not in OPERATORS:
        raise ValueError(f"{where}.operator: unknown operator {operator!r}; use one of "
                         f"{', '.join(OPERATORS)}")
    return Leaf(attribute, operator, _check_value(operator, data.get("value"), where))


def _parsed_condition(value: Any) -> Any:
    if value is None or isinstance(value, (Leaf, Group)):
        return value
    return parse_condition(value)


# A condition as written in YAML, parsed (and checked) on load.
Condition = Annotated[Any, BeforeValidator(_parsed_condition)]
