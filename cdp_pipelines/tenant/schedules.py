"""When things run: courier groups (`courier_groups.yaml`) and orchestration schedules."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from cdp_pipelines.tenant.base import Name, TenantModel


def check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {tz!r} is not an IANA time zone (e.g. 'America/New_York')"
                         ) from None
    return tz


def check_cron(cron: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(cron):
        raise ValueError(f"cron {cron!r} is not a valid cron expression (e.g. '0 6 * * *')")
    return cron


Cron = Annotated[str, AfterValidator(check_cron)]
Timezone = Annotated[str, AfterValidator(check_timezone)]


class ScheduleSpec(TenantModel):
    """An orchestration's schedule."""

    cron: Cron
    timezone: Timezone = "UTC"


class CourierGroupMember(TenantModel):
    """One courier of a courier group."""

    courier: str
    # Keep polling the source this long for a file before calling it missing.
    wait_minutes: int = Field(default=0, ge=0)
    when_missing: Literal["ignore", "warn", "fail"] = "warn"


class CourierGroupSpec(TenantModel):
    """A courier group (`courier_groups.yaml`): couriers run together on a cron schedule,
    then everything downstream of them."""

    name: Name
    cron: Cron
    timezone: Timezone = "UTC"
    couriers: tuple[CourierGroupMember, ...]
    description: str = ""

    @model_validator(mode="after")
    def _members_unique(self) -> "CourierGroupSpec":
        names = [m.courier for m in self.couriers]
        if not names:
            raise ValueError("couriers must list at least one courier")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"couriers {dupes} are listed more than once")
        return self
