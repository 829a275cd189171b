"""Transports shared by couriers (pulling source files) and destinations (delivering).

File stores (local, S3, Azure Blob, SFTP) share the :class:`FileStore` interface and are
built with :func:`make_store`; ``rest`` is a REST client, ``warehouse`` reads and writes
SQL tables, ``pgp`` encrypts and decrypts. SDKs are imported only when a store is made.
"""

from cdp_pipelines.transports.base import (
    FileStore,
    RemoteFile,
    RemoteFileNotFound,
    TransportConfigError,
    TransportError,
)
from cdp_pipelines.transports.credentials import (
    MissingSecretError,
    Secret,
    resolve_secret,
)
from cdp_pipelines.transports.factory import STORE_TYPES, make_store
from cdp_pipelines.transports.rest import HttpError, Pagination, RestClient
from cdp_pipelines.transports.pgp import Pgp, PgpError
from cdp_pipelines.transports.warehouse import Warehouse, WarehouseError

__all__ = [
    "STORE_TYPES",
    "FileStore",
    "HttpError",
    "Pagination",
    "Pgp",
    "PgpError",
    "RestClient",
    "Warehouse",
    "WarehouseError",
    "MissingSecretError",
    "RemoteFile",
    "RemoteFileNotFound",
    "Secret",
    "TransportConfigError",
    "TransportError",
    "make_store",
    "resolve_secret",
]
