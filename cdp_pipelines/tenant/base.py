"""What every tenant model shares: strict pydantic models and identifier names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_identifier(value: str, what: str = "name") -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} must be lower-case letters, digits and '_', starting with a letter"
        )
    return value


# A name that becomes part of a table, asset key or path.
Name = Annotated[str, AfterValidator(check_identifier)]


class TenantModel(BaseModel):
    """Frozen, and unknown keys are errors: a typo is never a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def with_type(kind: Any, options: Any, owner: str) -> Any:
    """A courier's or destination's ``options`` with the ``type`` written next to them, so
    that they validate as that transport's options model (tenant files keep ``type`` out)."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        return options
    if "type" in options:
        raise ValueError(f"'type' belongs on the {owner}, not in its options")
    return {"type": kind, **options}
