"""Computed traits (`computed_traits.yaml`): per customer, from their events.

    traits:
      - {name: product_views_7d, kind: count, event: Product Viewed, within: 7 days}
      - {name: last_seen, kind: last_seen}
      - {name: last_viewed_sku, kind: last_value, event: Product Viewed, property: sku}

``kind``: ``count`` (events, 0 for none), ``first_seen`` / ``last_seen`` (when), or
``last_value`` (the ``property`` of the latest event that has it). ``event`` picks track
calls of that name (``type`` picks other calls: ``page`` with ``event`` a page name);
without either, every event counts. ``within`` (``N days|weeks|months|years``) keeps the
events of that window before the build; ``source`` keeps one event source's.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator

from cdp_pipelines.tenant.base import Name, TenantModel
from cdp_pipelines.tenant.conditions import parse_period

TRAITS_FILE = "computed_traits.yaml"
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ComputedTraitSpec(TenantModel):
    name: Name
    kind: Literal["count", "first_seen", "last_seen", "last_value"]
    description: str = ""
    event: str | None = None
    type: Literal["track", "page", "screen", "identify", "group", "alias"] | None = None
    property: str | None = None
    within: str | None = None
    source: Name | None = None

    @field_validator("within")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            parse_period(value)
        return value

    @model_validator(mode="after")
    def _property_for_last_value(self) -> "ComputedTraitSpec":
        if (self.kind == "last_value") != (self.property is not None):
            raise ValueError("'property' is what a last_value trait takes, and only it")
        if self.property is not None and not _PROPERTY.match(self.property):
            raise ValueError(f"property {self.property!r} is not a property path (letters, "
                             "digits, '_', '.' between levels)")
        return self

    # Methods, not properties: the field `property` hides the builtin in this class.
    def call_type(self) -> str | None:
        """The call type the trait reads: ``track`` for a named event by default."""
        return self.type or ("track" if self.event else None)

    def period(self) -> tuple[int, str] | None:
        return parse_period(self.within) if self.within else None
