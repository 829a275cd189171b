"""Identity-resolution settings (`stitch.yaml`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from cdp_pipelines.tenant.base import TenantModel


class StitchQaSpec(TenantModel):
    """Thresholds of Stitch's QA checks (stitch/qa.py): shares from 0 to 1; a check warns
    when its figure leaves the allowed range. Defaults fit the demo tenant (2,000 people:
    given names 0.05%, birthdates 0.24%, postal codes 0%, emails split 0.09%, phones 0.07%,
    singletons 39%), with room for tenants whose data is messier."""

    given_names_per_id: int = Field(default=3, ge=1)
    max_ids_with_many_given_names: float = Field(default=0.01, ge=0, le=1)
    max_ids_with_conflicting_birthdates: float = Field(default=0.02, ge=0, le=1)
    postal_codes_per_id: int = Field(default=3, ge=1)
    max_ids_spanning_many_postal_codes: float = Field(default=0.01, ge=0, le=1)
    max_emails_split: float = Field(default=0.01, ge=0, le=1)
    max_phones_split: float = Field(default=0.01, ge=0, le=1)
    # The allowed share of IDs holding a single record: [low, high].
    singletons: tuple[float, float] = (0.0, 0.9)

    @model_validator(mode="after")
    def _range(self) -> "StitchQaSpec":
        low, high = self.singletons
        if not 0 <= low <= high <= 1:
            raise ValueError(f"qa.singletons: [{low}, {high}] is not a range within [0, 1]")
        return self


class HouseholdSpec(TenantModel):
    """Households (stitch/households.py): customers whose best address is the same
    normalised street address (with the unit and postal code) and who share one more thing
    named in ``match_on``, the reference being Amperity's Merged Households."""

    enabled: bool = True
    # Beside the address, two customers must share one of these to be one household.
    match_on: tuple[Literal["surname", "phone", "email"], ...] = ("surname", "phone", "email")
    # An address shared by more customers than this (a store, a dormitory, a care home)
    # makes no household; its customers stay households of one.
    max_size: int = Field(default=8, ge=2)
    # phonetic: the street's name words compare by Soundex, so a mistyped street name
    # (MEAGNOLIA) is still the address; exact: the normalised street line as it is.
    street_match: Literal["phonetic", "exact"] = "phonetic"

    @model_validator(mode="after")
    def _evidence(self) -> "HouseholdSpec":
        if not self.match_on:
            raise ValueError("households.match_on: name at least one of surname, phone, email "
                             "(an address alone would join every tenant of a building)")
        return self


class StitchSpec(TenantModel):
    """Identity-resolution settings (`stitch.yaml`)."""

    default_region: str = "US"
    # A value linked to more distinct given names than this is blocked automatically.
    bad_value_thresholds: dict[str, int] = Field(
        default_factory=lambda: {"email": 20, "phone": 20, "address": 40, "loyalty_id": 20}
    )
    # Values never used for matching, by semantic column (e.g. email: [info@brand.com]).
    blocklist: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # The match probability from which two records link (0-1), or "auto": 0.9, or 0.5
    # when name_guard auto finds the records show no households (matching.match_threshold).
    match_threshold: Annotated[float, Field(gt=0, le=1)] | Literal["auto"] = "auto"
    supersized_cluster_size: int = 50
    retrain: Literal["always", "if_missing", "never"] = "if_missing"
    # Different given names part two records that share an address, phone or email (a
    # household) unless a birthdate vouches for them. "auto" drops that veto only when the
    # tenant's records show no households (see matching.household_evidence).
    name_guard: Literal["auto", "on", "off"] = "auto"
    # full rebuilds every run; incremental scores only new and changed records and
    # re-clusters only the customers they touch (full whenever the model, the guard or
    # the previous outputs do not allow it); auto is incremental when at most
    # `incremental_max_share` of the records are new, changed or deleted.
    mode: Literal["full", "incremental", "auto"] = "auto"
    incremental_max_share: float = Field(default=0.05, gt=0, le=1)
    qa: StitchQaSpec = Field(default_factory=StitchQaSpec)
    households: HouseholdSpec = Field(default_factory=HouseholdSpec)
