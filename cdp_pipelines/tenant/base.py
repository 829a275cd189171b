"""What every tenant model shares: strict pydantic models and identifier names."""

from __future__ import annotations

import re
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


# Every secret-bearing option any transport takes: tenant files name an environment
# variable (``<key>_env``) or a file (``<key>_file``) instead.
SECRET_OPTIONS = (
    "password", "token", "private_key", "private_key_passphrase", "passphrase",
    "connection_string", "access_key_id", "secret_access_key", "session_token", "url",
)


def refuse_inline_secrets(options: dict[str, Any], keys: tuple[str, ...] = SECRET_OPTIONS
                          ) -> None:
    inline = sorted(k for k in options if k in keys)
    if inline:
        raise ValueError(
            f"{inline} must not hold secrets in tenant files; name an environment variable "
            f"('<key>_env') or a file ('<key>_file') instead"
        )
