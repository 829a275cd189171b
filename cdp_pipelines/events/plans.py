"""Tracking plans at work: each message checked against its source's plan, with compiled
validators (fastjsonschema), and the verdict its source's ``on_violation`` gives.

Rules a violation names:

- ``unplanned_event``: a track call whose event name the plan does not list (when the
  source does not allow unplanned events);
- ``unplanned_property``: a property (trait) the event's schema does not declare;
- ``required``: a required property (trait) is missing;
- ``schema``: a value, or the object as a whole, breaks the schema.

Track calls are checked against their event's ``properties`` schema and identify calls
against the ``traits`` schema; other calls are not planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cdp_pipelines.tenant.events import EventSourceSpec


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    """What happens to one message: blocked or passed (with the plan's omissions
    applied to ``message``), the violations, and what was omitted (field -> values)."""

    blocked: bool
    violations: tuple[Violation, ...] = ()
    message: dict | None = None
    omitted: dict[str, dict[str, Any]] | None = None


def _compile(schema: dict) -> Callable[[Any], Any]:
    import fastjsonschema

    return fastjsonschema.compile(schema)


class ObjectPlan:
    """The schema of one object (a track event's properties, or identify traits)."""

    def __init__(self, schema: dict[str, Any]):
        declared = schema.get("properties") or {}
        self._whole = _compile(schema)
        self._each = {name: _compile(sub) for name, sub in declared.items()
                      if isinstance(sub, dict)}
        self._declared = set(declared)
        self._open = schema.get("additionalProperties") is True
        self._required = [k for k in schema.get("required", ()) if isinstance(k, str)]

    def check(self, field: str, value: dict[str, Any]) -> tuple[list[Violation], set[str]]:
        """The violations of ``value`` (found at ``field``) and the keys that break the
        plan (unplanned, or a value that breaks its schema): the ones ``omit`` removes."""
        import fastjsonschema

        if self._open or self._declared.issuperset(value):
            # Most messages keep to the plan: one compiled check says so.
            try:
                self._whole(value)
                return [], set()
            except fastjsonschema.JsonSchemaValueException:
                pass
        found, bad = [], set()
        if not self._open:
            for key in value:
                if key not in self._declared:
                    found.append(Violation("unplanned_property", f"{field}.{key}",
                                           f"{field}.{key} is not in the tracking plan"))
                    bad.add(key)
        missing = [k for k in self._required if k not in value]
        if missing:
            found.append(Violation("required", field, f"{field} must contain {missing}"))
        for key, validate in self._each.items():
            if key in value:
                try:
                    validate(value[key])
                except fastjsonschema.JsonSchemaValueException as exc:
                    found.append(Violation("schema", f"{field}.{key}",
                                           _reason(exc, f"{field}.{key}")))
                    bad.add(key)
        if not found:
            # What the per-key checks cannot see (minProperties, if/then, allOf, ...).
            try:
                self._whole({k: v for k, v in value.items() if k in self._declared})
            except fastjsonschema.JsonSchemaValueException as exc:
                found.append(Violation("schema", field, _reason(exc, field)))
        return found, bad


def _reason(exc: Exception, field: str) -> str:
    """fastjsonschema calls the value ``data``; name the field instead."""
    message = getattr(exc, "message", str(exc))
    return field + message[4:] if message.startswith("data") else f"{field}: {message}"


class SourcePlan:
    """A source's tracking plan, compiled once when the collector starts."""

    def __init__(self, spec: EventSourceSpec):
        self.spec = spec
        self._events = {e.name: ObjectPlan(e.properties) for e in spec.events}
        self._traits = ObjectPlan(spec.identify.traits)

    def verdict(self, message: dict[str, Any]) -> Verdict:
        """Check ``message`` (a Segment message with a valid ``type``) against the plan."""
        kind = message["type"]
        if kind == "track":
            field, plan = "properties", self._events.get(message["event"])
            if plan is None and not self.spec.allow_unplanned_events:
                return self._apply(message, [Violation(
                    "unplanned_event", "event",
                    f"event {message['event']!r} is not in the tracking plan")], field, set())
        elif kind == "identify":
            field, plan = "traits", self._traits
        else:
            return Verdict(blocked=False, message=message)
        if plan is None:
            return Verdict(blocked=False, message=message)
        value = message.get(field) or {}
        violations, bad = plan.check(field, value if isinstance(value, dict) else {})
        return self._apply(message, violations, field, bad)

    def _apply(self, message: dict, violations: list[Violation], field: str,
               bad: set[str]) -> Verdict:
        if not violations:
            return Verdict(blocked=False, message=message)
        action = self.spec.on_violation
        if action == "block":
            return Verdict(blocked=True, violations=tuple(violations), message=message)
        if action == "omit" and bad:
            value = message.get(field) or {}
            kept = {k: v for k, v in value.items() if k not in bad}
            omitted = {field: {k: v for k, v in value.items() if k in bad}}
            return Verdict(blocked=False, violations=tuple(violations),
                           message={**message, field: kept}, omitted=omitted)
        return Verdict(blocked=False, violations=tuple(violations), message=message)
