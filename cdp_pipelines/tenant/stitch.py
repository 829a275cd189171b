"""Identity-resolution settings (`stitch.yaml`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdp_pipelines.tenant.base import TenantModel


class StitchSpec(TenantModel):
    """Identity-resolution settings (`stitch.yaml`)."""

    default_region: str = "US"
    # A value linked to more distinct given names than this is blocked automatically.
    bad_value_thresholds: dict[str, int] = Field(
        default_factory=lambda: {"email": 20, "phone": 20, "address": 40, "loyalty_id": 20}
    )
    # Values never used for matching, by semantic column (e.g. email: [info@brand.com]).
    blocklist: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    match_threshold: float = 0.9
    supersized_cluster_size: int = 50
    retrain: Literal["always", "if_missing", "never"] = "if_missing"
    # Different given names part two records that share an address, phone or email (a
    # household) unless a birthdate vouches for them. "auto" drops that veto only when the
    # tenant's records show no households (see matching.household_evidence).
    name_guard: Literal["auto", "on", "off"] = "auto"
