"""Transports shared by couriers (pulling source files) and destinations (delivering).

Each transport module holds its typed options (``S3Options``, ...: frozen pydantic models,
unknown keys and inline secrets refused) and the class they build. File stores (local, S3,
Azure Blob, SFTP) share the :class:`FileStore` interface and are built with
:func:`make_store`; ``rest`` is a REST client, ``warehouse`` reads and writes SQL tables,
``pgp`` encrypts and decrypts. :mod:`~cdp_pipelines.transports.factory` lists them all
(:data:`TransportOptions` is the union on ``type``). SDKs are imported only when a store is made.
"""

from cdp_pipelines.transports.azure_blob import AzureBlobOptions
from cdp_pipelines.transports.base import (
    FileStore,
    RemoteFile,
    RemoteFileNotFound,
    TransportConfigError,
    TransportError,
)
from cdp_pipelines.transports.credentials import (
    SECRET_OPTIONS,
    MissingSecretError,
    Secret,
    resolve_secret,
)
from cdp_pipelines.transports.factory import (
    OPTIONS_BY_TYPE,
    STORE_TYPES,
    TRANSPORT_TYPES,
    TransportOptions,
    make_store,
    parse_options,
)
from cdp_pipelines.transports.local import LocalOptions
from cdp_pipelines.transports.options import FileStoreOptions, NonEmptyStr, OptionsModel
from cdp_pipelines.transports.pgp import Pgp, PgpError, PgpOptions
from cdp_pipelines.transports.rest import HttpError, Pagination, RestClient, RestOptions
from cdp_pipelines.transports.s3 import S3Options
from cdp_pipelines.transports.sftp import SftpOptions
from cdp_pipelines.transports.warehouse import (
    Warehouse,
    WarehouseError,
    WarehouseOptions,
)

__all__ = [
    "OPTIONS_BY_TYPE",
    "SECRET_OPTIONS",
    "STORE_TYPES",
    "TRANSPORT_TYPES",
    "AzureBlobOptions",
    "FileStore",
    "FileStoreOptions",
    "HttpError",
    "LocalOptions",
    "MissingSecretError",
    "NonEmptyStr",
    "OptionsModel",
    "Pagination",
    "Pgp",
    "PgpError",
    "PgpOptions",
    "RemoteFile",
    "RemoteFileNotFound",
    "RestClient",
    "RestOptions",
    "S3Options",
    "Secret",
    "SftpOptions",
    "TransportConfigError",
    "TransportError",
    "TransportOptions",
    "Warehouse",
    "WarehouseError",
    "WarehouseOptions",
    "make_store",
    "parse_options",
    "resolve_secret",
]
