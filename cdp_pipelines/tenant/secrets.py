"""Every secret a tenant names (``<key>_env`` / ``<key>_file`` in courier, destination and
PGP options) must exist before a run: :func:`missing_secrets` says which do not, naming
the file and the variable or path, never the value."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from cdp_pipelines.tenant.errors import ConfigError
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.transports.credentials import (
    SECRET_OPTIONS,
    MissingSecretError,
    resolve_secret,
)


def _named_secrets(tenant: Tenant) -> Iterator[tuple[str, BaseModel]]:
    """(where, options model) for every options model of the tenant that may name secrets."""
    for source, courier in tenant.couriers:
        where = f"source {source.name}: courier {courier.name}"
        yield where, courier.options
        if courier.format.pgp is not None:
            yield f"{where}: format.pgp", courier.format.pgp
    for name, destination in tenant.destinations.items():
        yield f"activation/destinations.yaml: destination {name}", destination.options
    if tenant.privacy is not None:
        yield "privacy.yaml", tenant.privacy
        if tenant.privacy.dsar is not None:
            yield "privacy.yaml: dsar.options", tenant.privacy.dsar.options


def missing_secrets(tenant: Tenant) -> list[str]:
    """One message per named secret that is not set (or is an empty or missing file)."""
    problems = []
    for where, options in _named_secrets(tenant):
        for key in (*SECRET_OPTIONS, "salt"):
            if getattr(options, f"{key}_env", None) or getattr(options, f"{key}_file", None):
                try:
                    resolve_secret(options, key, where=where, required=False)
                except MissingSecretError as exc:
                    problems.append(str(exc))
    return problems


def check_secrets(tenant: Tenant) -> None:
    """Raise a :class:`ConfigError` listing (one line each) every named secret missing."""
    problems = missing_secrets(tenant)
    if problems:
        raise ConfigError("\n".join(problems))
