"""What every transport's options share: a frozen pydantic model that refuses unknown keys
(a typo is never a silently ignored setting) and secrets written in the config itself.

Each transport module declares its own model (``S3Options``, ...) with a ``type`` literal;
:mod:`cdp_pipelines.transports.factory` combines them into one union on ``type``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cdp_pipelines.transports.credentials import SECRET_OPTIONS

# A required text option: empty is as good as missing.
NonEmptyStr = Annotated[str, Field(min_length=1)]


class OptionsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _secrets_are_named(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        inline = sorted(key for key in data if key in SECRET_OPTIONS)
        if inline:
            named = ", ".join(f"'{key}_env' or '{key}_file'" for key in inline)
            raise ValueError(
                f"{inline} must not hold secrets in tenant files; name an environment variable "
                f"or a file instead ({named})"
            )
        for key in SECRET_OPTIONS:
            if data.get(f"{key}_env") and data.get(f"{key}_file"):
                raise ValueError(f"give only one of '{key}_env' and '{key}_file'")
        # `key: null` means the default, as leaving the key out does.
        return {key: value for key, value in data.items() if value is not None}


class FileStoreOptions(OptionsModel):
    """Options of a transport that is a :class:`~cdp_pipelines.transports.base.FileStore`."""

    @abstractmethod
    def location(self, path: str) -> str:
        """Where ``path`` is in the store, as a URL-like string without credentials."""


def describe_errors(error: ValidationError) -> str:
    """``field: message; ...`` for a validation error, without the input (it may hold secrets)."""
    described = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        described.append(f"{field}: {message}" if field else message)
    return "; ".join(described)
