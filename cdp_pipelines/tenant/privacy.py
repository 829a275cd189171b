"""``privacy.yaml``: how privacy requests (access, deletion) are applied.

::

    salt_env: CDP_PRIVACY_SALT          # or salt_file: /run/secrets/cdp_salt; never the value
    vacuum_retention_hours: 168         # old Delta versions older than this are vacuumed
    dsar:                               # where access (dsar) reports go: any file transport
      type: local
      options: {root: /srv/cdp/dsar}
    match_keys: [loyalty-id]            # identifiers besides email, phone and address
    notify_destinations: [crm_sftp]     # destinations sent a deletion file after a delete

Without the file, privacy requests cannot be applied (there is no salt to hash deleted
identifiers with): the privacy assets fail with a message saying so.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, model_validator

from cdp_pipelines.tenant.base import TenantModel, with_type
from cdp_pipelines.transports import OPTIONS_BY_TYPE, STORE_TYPES

PRIVACY_FILE = "privacy.yaml"
# Identifiers a request may name besides configured keys; "address" goes with "postal".
BUILT_IN_IDENTIFIERS = ("email", "phone", "address", "postal")
# Delta's own default: a week of time travel.
DEFAULT_RETENTION_HOURS = 168

FileStoreOptions = Annotated[
    Union[tuple(OPTIONS_BY_TYPE[kind] for kind in STORE_TYPES)], Field(discriminator="type")]


class DsarTarget(TenantModel):
    """A file store the DSAR reports are written to (``type`` + the transport's options)."""

    type: str
    options: FileStoreOptions

    @model_validator(mode="before")
    @classmethod
    def _typed_options(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            kind = data.get("type")
            if kind not in STORE_TYPES:
                raise ValueError(f"type {kind!r} is not a file transport; use one of "
                                 f"{', '.join(STORE_TYPES)}")
            data["options"] = with_type(kind, data.get("options"), "dsar target")
        return data


class PrivacySpec(TenantModel):
    """The tenant's privacy settings (see the module docstring)."""

    salt_env: str | None = None
    salt_file: str | None = None
    vacuum_retention_hours: int = Field(DEFAULT_RETENTION_HOURS, ge=0)
    dsar: DsarTarget | None = None
    # Semantic tags (e.g. loyalty-id, fk-crm) a request may name as identifiers.
    match_keys: tuple[str, ...] = ()
    notify_destinations: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_salt(self) -> "PrivacySpec":
        if bool(self.salt_env) == bool(self.salt_file):
            raise ValueError("name the salt's secret with exactly one of 'salt_env' (an "
                             "environment variable) or 'salt_file' (a file path); never the "
                             "salt itself")
        return self

    @property
    def identifier_names(self) -> tuple[str, ...]:
        """Identifier names a request may use: built-in ones and the configured keys."""
        return BUILT_IN_IDENTIFIERS + tuple(k.replace("-", "_") for k in self.match_keys)
