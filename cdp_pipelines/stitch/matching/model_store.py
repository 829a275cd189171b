"""The trained model as a versioned file, and whether it still fits a tenant's columns."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.stitch.matching.comparisons import comparison_inputs
from cdp_pipelines.stitch.matching.settings import build_settings

MODEL_FORMAT = "cdp-splink-model/1"


class Model(NamedTuple):
    settings: dict[str, Any]
    version: str
    content_hash: str
    created_at: str


def _content_hash(settings: dict[str, Any]) -> str:
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_model(settings_dict: dict[str, Any], path: str | Path) -> str:
    """Write trained Splink settings with a version (content hash + UTC timestamp);
    returns the version. Written to a temporary file then renamed (on an object store, one
    upload that appears whole), so a failed write never leaves a half model behind.
    ``path`` is a local path or a lake URI (:mod:`cdp_pipelines.resources.lake_files`)."""
    import splink

    path = lake_path(path)
    created = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = _content_hash(settings_dict)
    version = f"{digest[:12]}-{created}"
    payload = {
        "format": MODEL_FORMAT,
        "version": version,
        "content_hash": digest,
        "created_at": created,
        "splink_version": splink.__version__,
        "settings": settings_dict,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return version


def load_model(path: str | Path) -> Model:
    """Read a model written by `save_model`, checking its format and content hash."""
    path = lake_path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"Stitch model file {path} does not exist: train first") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"Stitch model file {path} is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"Stitch model file {path} is not a {MODEL_FORMAT} artifact "
            f"(format={payload.get('format') if isinstance(payload, dict) else None!r})"
        )
    settings = payload["settings"]
    if _content_hash(settings) != payload["content_hash"]:
        raise ValueError(
            f"Stitch model file {path}: settings do not match their content hash "
            "(edited by hand or corrupted); retrain or restore the file"
        )
    return Model(settings, payload["version"], payload["content_hash"], payload["created_at"])


def model_fits_columns(settings: dict[str, Any], columns_present: Iterable[str]) -> bool:
    """True when a stored model compares exactly what `build_settings` would choose for
    these columns, i.e. it can be reused rather than retrained."""
    def shape(comparisons: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        return [(c["output_column_name"], comparison_inputs(c)) for c in comparisons]

    return (shape(build_settings(columns_present)["comparisons"])
            == shape(settings.get("comparisons", [])))
