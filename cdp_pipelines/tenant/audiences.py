"""Audiences as tenant files write them: saved queries (`activation/queries/*.sql` and
`activation/queries.yaml`), segments (`activation/segments.yaml`) and campaigns
(`activation/campaigns.yaml`). See :mod:`cdp_pipelines.activation` for what they do."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cdp_pipelines.tenant.base import Name, TenantModel
from cdp_pipelines.tenant.conditions import Condition

SEGMENTS_FILE = "activation/segments.yaml"
QUERIES_DIR = "activation/queries"
QUERIES_FILE = "activation/queries.yaml"
# Schemas the project publishes; tenant databases (databases/<db>/) are added at load.
PUBLISHED_SCHEMAS = ("c360", "stitch", "activation")


class SavedQuerySettings(TenantModel):
    """One entry of ``activation/queries.yaml``."""

    name: Name
    description: str = ""
    warn_below: int | None = None
    fail_below: int | None = None
    warn_above: int | None = None
    fail_above: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "SavedQuerySettings":
        for low, high in (("fail_below", "warn_below"), ("warn_above", "fail_above"),
                          ("warn_below", "warn_above"), ("fail_below", "fail_above")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} ({a}) must not be greater than {high} ({b})")
        return self


class SavedQuery(SavedQuerySettings):
    """A saved query: its SQL file plus its settings."""

    sql: str
    path: Path

    @property
    def file(self) -> str:
        return f"{QUERIES_DIR}/{self.path.name}"

    def statement(self) -> str:
        """The SQL without trailing semicolons, line numbers unchanged."""
        return re.sub(r"[;\s]+$", "", self.sql)



class SegmentSpec(TenantModel):
    """One segment of ``activation/segments.yaml``: a condition or hand-written SQL."""

    name: Name
    description: str = ""
    sql: str | None = None
    condition: Condition = None
    # Column of customer_360 the insights plot breaks the segment down by.
    dimension: Name = "state"

    @model_validator(mode="after")
    def _one_definition(self) -> "SegmentSpec":
        if (self.sql is None) == (self.condition is None):
            raise ValueError(f"segment {self.name}: give exactly one of 'sql' or 'condition'")
        return self



CAMPAIGNS_FILE = "activation/campaigns.yaml"
BUCKETS = 10_000
CONTROL = "control"
DEFAULT_SUB_AUDIENCE = "default"
# merged_customers columns a destination receives when the campaign does not say.
DEFAULT_ATTRIBUTES = ("given_name", "surname", "email", "phone", "address", "address2",
                      "city", "state", "postal", "country")


def _buckets_of(percent: float, where: str) -> int:
    buckets = round(percent * BUCKETS / 100)
    if abs(buckets - percent * BUCKETS / 100) > 1e-6:
        raise ValueError(f"{where}: {percent} has more than two decimals")
    return buckets


class SubAudience(TenantModel):
    name: Name
    segment: str | None = None
    condition: Condition = None

    @model_validator(mode="after")
    def _one_rule(self) -> "SubAudience":
        if (self.segment is None) == (self.condition is None):
            raise ValueError(f"sub-audience {self.name}: give exactly one of 'segment' or "
                             "'condition'")
        if self.name == DEFAULT_SUB_AUDIENCE:
            raise ValueError(f"'{DEFAULT_SUB_AUDIENCE}' is the name of everyone no "
                             "sub-audience matches; choose another name")
        return self


class Treatment(TenantModel):
    name: Name
    percent: float = Field(gt=0, le=100)
    destination: Name


class Control(TenantModel):
    percent: float = Field(gt=0, lt=100)


class CampaignSpec(TenantModel):
    """One campaign of ``activation/campaigns.yaml``."""

    name: Name
    description: str = ""
    include: str
    exclude: tuple[str, ...] = ()
    sub_audiences: tuple[SubAudience, ...] = ()
    treatments: tuple[Treatment, ...]
    control: Control | None = None
    attributes: dict[str, tuple[Name, ...]] = Field(default_factory=dict)
    schedule: Literal["one_time", "recurring"] = "one_time"
    launch_date: date | None = None
    # One recipient per household (Customer 360's household_members): the member of the
    # audience ranked first in its household; the whole household shares one group.
    one_per_household: bool = False

    @model_validator(mode="after")
    def _plan_consistent(self) -> "CampaignSpec":
        if not self.treatments:
            raise ValueError("treatments: at least one treatment is needed")
        names = [t.name for t in self.treatments]
        for label, values in (("treatments", names),
                              ("sub_audiences", [s.name for s in self.sub_audiences])):
            dupes = sorted({n for n in values if values.count(n) > 1})
            if dupes:
                raise ValueError(f"{label}: names {dupes} are used more than once")
        if CONTROL in names:
            raise ValueError(f"treatments: '{CONTROL}' is reserved for the control group; "
                             "set control: {percent: N} instead")
        total = sum(t.percent for t in self.treatments) + (
            self.control.percent if self.control else 0)
        if abs(total - 100) > 1e-6:
            parts = " + ".join(f"{t.name} {t.percent:g}" for t in self.treatments)
            if self.control:
                parts += f" + control {self.control.percent:g}"
            raise ValueError(f"treatments: percents must sum to 100 (with control), got "
                             f"{parts} = {total:g}")
        for i, t in enumerate(self.treatments):
            _buckets_of(t.percent, f"treatments[{i}].percent")
        if self.control:
            _buckets_of(self.control.percent, "control.percent")
        destinations = {t.destination for t in self.treatments}
        unknown = sorted(set(self.attributes) - destinations)
        if unknown:
            raise ValueError(f"attributes: destinations {unknown} receive no treatment of this "
                             f"campaign; its destinations are {sorted(destinations)}")
        return self

    @property
    def segments(self) -> list[str]:
        """Every segment the campaign reads."""
        out = [self.include, *self.exclude, *(s.segment for s in self.sub_audiences if s.segment)]
        return list(dict.fromkeys(out))

    def columns_for(self, destination: str) -> tuple[str, ...]:
        return self.attributes.get(destination, DEFAULT_ATTRIBUTES)

    def plan(self) -> list[tuple[str, int]]:
        """``[(group, first bucket past it)]`` in bucket order: control, then treatments."""
        out, edge = [], 0
        if self.control:
            edge += _buckets_of(self.control.percent, "control.percent")
            out.append((CONTROL, edge))
        for t in self.treatments:
            edge += _buckets_of(t.percent, t.name)
            out.append((t.name, edge))
        out[-1] = (out[-1][0], BUCKETS)
        return out


