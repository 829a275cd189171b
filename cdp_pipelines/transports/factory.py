"""The one list of transports: each one's options model, combined into one union on
``type``, and what those options open. Adding a transport is a module holding its options
model and its class, plus one line in :data:`TRANSPORTS`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from cdp_pipelines.transports.azure_blob import AzureBlobOptions, AzureBlobStore
from cdp_pipelines.transports.base import FileStore, TransportConfigError
from cdp_pipelines.transports.local import LocalOptions, LocalStore
from cdp_pipelines.transports.options import (
    FileStoreOptions,
    OptionsModel,
    describe_errors,
)
from cdp_pipelines.transports.rest import RestClient, RestOptions
from cdp_pipelines.transports.s3 import S3Options, S3Store
from cdp_pipelines.transports.sftp import SftpOptions, SftpStore
from cdp_pipelines.transports.warehouse import Warehouse, WarehouseOptions

# options model -> the class its ``from_options`` builds (SDKs are imported only then).
TRANSPORTS: dict[type[OptionsModel], type] = {
    LocalOptions: LocalStore,
    S3Options: S3Store,
    AzureBlobOptions: AzureBlobStore,
    SftpOptions: SftpStore,
    RestOptions: RestClient,
    WarehouseOptions: Warehouse,
}
OPTIONS_BY_TYPE: dict[str, type[OptionsModel]] = {
    model.model_fields["type"].default: model for model in TRANSPORTS
}
TRANSPORT_TYPES = tuple(OPTIONS_BY_TYPE)
# The transports that are FileStores: couriers list them, file destinations write to them.
STORE_TYPES = tuple(
    kind for kind, model in OPTIONS_BY_TYPE.items() if issubclass(model, FileStoreOptions)
)
TransportOptions = Annotated[Union[tuple(TRANSPORTS)], Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TransportOptions)


def parse_options(config: Mapping[str, Any]) -> TransportOptions:
    """The typed options for ``config`` (``{"type": "s3", "bucket": ..., ...}``)."""
    try:
        return _ADAPTER.validate_python(dict(config))
    except ValidationError as exc:
        raise TransportConfigError(f"transport options: {describe_errors(exc)}") from None


def make_store(options: FileStoreOptions) -> FileStore:
    """The file store ``options`` describe."""
    if not isinstance(options, FileStoreOptions):
        raise TransportConfigError(
            f"store options: type {options.type!r} is not one of {list(STORE_TYPES)}"
        )
    return TRANSPORTS[type(options)].from_options(options)
