"""Courier for files in an Azure Blob Storage container.

Options: ``container``, ``prefix``, ``connection_string_env`` (or ``_file``).
"""

from __future__ import annotations

from cdp_pipelines.sources.couriers._store import StoreCourier


class AzureBlobCourier(StoreCourier):
    """Lands files from the store configured in the courier's ``options``."""
