"""Courier for files in an S3 bucket.

Options: ``bucket``, ``prefix``, ``region``, ``endpoint_url``, ``access_key_id_env`` and
``secret_access_key_env`` (or ``_file``; else boto3's own credential chain).
"""

from __future__ import annotations

from cdp_pipelines.sources.couriers._store import StoreCourier


class S3Courier(StoreCourier):
    """Lands files from the store configured in the courier's ``options``."""
