"""The collector's OpenAPI document: request bodies from the message models (the
collector reads bodies itself, to bound their size and unzip them), the error body, and
basic auth with the write key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from cdp_pipelines.events.messages import MODELS, Batch

_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "The body is not valid JSON or not a Segment message; nothing was written.",
    401: "No write key, or one no source has.",
    413: "The body, or one message, is over the size limit.",
    415: "A Content-Encoding other than gzip.",
    503: "The events could not be stored; retry.",
}


class Ack(BaseModel):
    """Every message of the request is durably written."""

    success: bool = True


class ErrorBody(BaseModel):
    success: bool = False
    code: str
    message: str


def _body_schemas() -> dict[str, Any]:
    """A component per request body: ``Batch``, and ``<Type>Call`` for each single call
    (whose ``type`` the path gives, so the body may leave it out)."""
    out: dict[str, Any] = {}
    for name, model in [("Batch", Batch), *((f"{m.__name__}Call", m) for m in MODELS.values())]:
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        if model is not Batch:
            schema["required"] = [r for r in schema.get("required", []) if r != "type"]
        out[name] = schema
    return out


def operation(kind: str) -> dict[str, Any]:
    """The route arguments that document endpoint ``/v1/<kind>``."""
    body = "Batch" if kind == "batch" else f"{MODELS[kind].__name__}Call"
    return {
        "summary": f"Send {'a batch of messages' if kind == 'batch' else f'a {kind} call'}",
        "response_model": Ack,
        "responses": {status: {"model": ErrorBody, "description": text}
                      for status, text in _ERRORS.items()},
        "openapi_extra": {
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}},
            "security": [{"writeKey": []}],
        },
    }


def install(app: FastAPI) -> None:
    """Serve the document with the body schemas and the security scheme added."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(_body_schemas())
            components["securitySchemes"] = {"writeKey": {
                "type": "http", "scheme": "basic",
                "description": "The source's write key as the user name, no password."}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document
