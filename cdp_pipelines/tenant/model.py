"""The whole tenant, every file of it loaded and cross-checked: what every layer receives."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from cdp_pipelines.tenant.audiences import CampaignSpec, SavedQuery, SegmentSpec
from cdp_pipelines.tenant.base import Name, TenantModel
from cdp_pipelines.tenant.databases import DatabaseTable
from cdp_pipelines.tenant.delivery import (
    DestinationSpec,
    OrchestrationSpec,
    TemplateSpec,
)
from cdp_pipelines.tenant.events import EventSourceSpec
from cdp_pipelines.tenant.privacy import PrivacySpec
from cdp_pipelines.tenant.schedules import CourierGroupSpec, Timezone
from cdp_pipelines.tenant.sources import (
    CourierSpec,
    CustomDomainTable,
    FeedSpec,
    SourceSpec,
)
from cdp_pipelines.tenant.stitch import StitchSpec
from cdp_pipelines.tenant.traits import ComputedTraitSpec


class TenantSpec(TenantModel):
    """`tenant.yaml`: who the tenant is."""

    name: Name
    description: str = ""
    timezone: Timezone = "UTC"


class Tenant(TenantModel):
    """A whole tenant, validated."""

    root: Path
    tenant: TenantSpec
    sources: tuple[SourceSpec, ...] = ()
    custom_domain_tables: tuple[CustomDomainTable, ...] = ()
    stitch: StitchSpec = StitchSpec()
    courier_groups: tuple[CourierGroupSpec, ...] = ()
    # Tenant databases (directories under databases/) and their custom tables.
    databases: tuple[Name, ...] = ()
    database_tables: tuple[DatabaseTable, ...] = ()
    queries: tuple[SavedQuery, ...] = ()
    segments: tuple[SegmentSpec, ...] = ()
    campaigns: tuple[CampaignSpec, ...] = ()
    destinations: dict[str, DestinationSpec] = Field(default_factory=dict)
    templates: dict[str, TemplateSpec] = Field(default_factory=dict)
    orchestrations: tuple[OrchestrationSpec, ...] = ()
    event_sources: tuple[EventSourceSpec, ...] = ()
    computed_traits: tuple[ComputedTraitSpec, ...] = ()
    # privacy.yaml; None when the tenant has none (requests cannot be applied then).
    privacy: PrivacySpec | None = None

    @property
    def feeds(self) -> list[tuple[SourceSpec, FeedSpec]]:
        return [(s, f) for s in self.sources for f in s.feeds]

    @property
    def couriers(self) -> list[tuple[SourceSpec, CourierSpec]]:
        return [(s, c) for s in self.sources for c in s.couriers]

    @property
    def pii_fields(self) -> frozenset[str]:
        """Names of the feed fields that hold personal data (tags or an explicit ``pii:``),
        and of event tables' columns that do."""
        return frozenset([c for _, feed in self.feeds for c in feed.pii_columns]
                         + [c for s in self.event_sources for c in s.pii_columns])

    @property
    def privacy_request_couriers(self) -> list[tuple[SourceSpec, CourierSpec]]:
        """Couriers of ``privacy-request`` sources: their files are privacy requests."""
        return [(s, c) for s, c in self.couriers if s.type == "privacy-request"]

    def feed(self, name: str) -> FeedSpec:
        return next(f for _, f in self.feeds if f.name == name)

    def source(self, name: str) -> SourceSpec:
        return next(s for s in self.sources if s.name == name)

    def courier(self, name: str) -> tuple[SourceSpec, CourierSpec]:
        return next((s, c) for s, c in self.couriers if c.name == name)

    def event_source(self, name: str) -> EventSourceSpec:
        return next(s for s in self.event_sources if s.name == name)

    def campaign(self, name: str) -> CampaignSpec:
        return next(c for c in self.campaigns if c.name == name)

    def routes(self, orchestration: OrchestrationSpec) -> list[tuple[str | None, str]]:
        """(treatment or None, destination) pairs an orchestration delivers."""
        if orchestration.campaign:
            return [(t.name, t.destination)
                    for t in self.campaign(orchestration.campaign).treatments]
        return [(None, orchestration.destination or "")]

    def audience_names(self, kind: Literal["campaign", "segment", "query"]) -> set[str]:
        items = {"campaign": self.campaigns, "segment": self.segments, "query": self.queries}
        return {item.name for item in items[kind]}


def tenant_today(tenant: Tenant) -> date:
    """Today in the tenant's time zone: "in the last 90 days" means the brand's days."""
    return datetime.now(ZoneInfo(tenant.tenant.timezone)).date()
