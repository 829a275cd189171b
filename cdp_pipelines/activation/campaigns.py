"""Campaigns: who gets what, split into treatments and a control group by a stable hash.

``activation/campaigns.yaml``::

    campaigns:
      - name: winback_q4
        include: lapsed_vips                 # a segment
        exclude: [employees]                 # segments whose members are left out
        sub_audiences:                       # first match wins; everyone else is "default"
          - {name: west, segment: west_coast}
          - {name: big_spenders, condition: {attribute: lifetime_revenue, operator: ">", value: 1000}}
        treatments:
          - {name: email_offer, percent: 45, destination: email_tool}
          - {name: paid_social, percent: 45, destination: ads}
        control: {percent: 10}
        attributes:                          # columns of merged_customers sent per destination
          email_tool: [given_name, email]
        schedule: recurring                  # or one_time
        launch_date: 2026-12-01

Everyone's group comes from ``bucket = sha256("<campaign>:<amperity_id>")`` (first four
bytes, big-endian, modulo 10,000). Control takes buckets ``[0, control%)``, then each
treatment the next ``percent`` share, in the order listed. A customer therefore keeps their
group on every run, whatever the row order and whoever else is in the audience.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from cdp_pipelines.activation.segments import Condition
from cdp_pipelines.config.models import Name, _Model

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


class SubAudience(_Model):
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


class Treatment(_Model):
    name: Name
    percent: float = Field(gt=0, le=100)
    destination: Name


class Control(_Model):
    percent: float = Field(gt=0, lt=100)


class CampaignSpec(_Model):
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


def bucket(campaign: str, amperity_id: str) -> int:
    """The customer's bucket 0..9999 in ``campaign``; the same formula as :func:`bucket_sql`."""
    digest = hashlib.sha256(f"{campaign}:{amperity_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def bucket_sql(campaign_param: str, id_column: str) -> str:
    """Trino expression of :func:`bucket`; ``campaign_param`` is a bound parameter (``?``)."""
    # Four bytes padded to eight: from_big_endian_64 then never sees a sign bit.
    return (f"from_big_endian_64(X'00000000' || substr(sha256(to_utf8("
            f"{campaign_param} || ':' || CAST({id_column} AS varchar))), 1, 4)) % {BUCKETS}")


def assign(campaign: CampaignSpec, amperity_id: str) -> str:
    """The group (treatment name or ``control``) of one customer."""
    b = bucket(campaign.name, amperity_id)
    return next(group for group, edge in campaign.plan() if b < edge)
