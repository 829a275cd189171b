"""Build a FileStore from a config mapping keyed by ``type``."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from cdp_pipelines.transports.base import FileStore, TransportConfigError

# type -> (module, class); modules are imported only when used (boto3, azure, paramiko).
STORE_TYPES = {
    "local": ("cdp_pipelines.transports.local", "LocalStore"),
    "s3": ("cdp_pipelines.transports.s3", "S3Store"),
    "azure_blob": ("cdp_pipelines.transports.azure_blob", "AzureBlobStore"),
    "sftp": ("cdp_pipelines.transports.sftp", "SftpStore"),
}


def make_store(config: Mapping[str, Any]) -> FileStore:
    """Return the store described by ``config`` (``{"type": "s3", "bucket": ..., ...}``)."""
    store_type = config.get("type")
    if store_type not in STORE_TYPES:
        raise TransportConfigError(
            f"store config: type {store_type!r} is not one of {sorted(STORE_TYPES)}"
        )
    module_name, class_name = STORE_TYPES[store_type]
    return getattr(import_module(module_name), class_name).from_config(config)
