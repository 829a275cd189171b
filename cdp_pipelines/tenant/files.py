"""Reading tenant files: YAML with ``${VAR}`` interpolation, validation into models with
errors that name the file and the field, and the one duplicate-name check."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cdp_pipelines.tenant.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, file: Path | str, env: dict[str, str], where: str = "") -> Any:
    """``value`` with ``${VAR}`` / ``${VAR:-default}`` replaced from ``env``."""
    if isinstance(value, dict):
        return {k: interpolate(v, file, env, f"{where}.{k}" if where else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, file, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{file}: {where}: environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}})"
            )
        return _ENV_REF.sub(repl, value)
    return value


def loc(parts: tuple[Any, ...]) -> str:
    """A pydantic error location as a field path: ``feeds[0].primary_key``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(model: type, data: Any, file: Path, root: Path, **extra: Any) -> Any:
    """``model`` from a whole file's ``data``; errors read ``<file>: <field>: <message>``."""
    try:
        return model.model_validate({**(data or {}), **extra})
    except ValidationError as exc:
        lines = [f"{loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{file.relative_to(root)}: " + "; ".join(lines)) from None


def validate_item(model: type, data: Any, file: str, where: str) -> Any:
    """``model`` from one entry of a file's list; errors read ``<file>: <where>.<field>: ...``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping, got {data!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            at, msg = error["loc"], error["msg"].removeprefix("Value error, ")
            # parse_condition's messages already start with the field they are about.
            if at and isinstance(at[-1], str) and msg.startswith(f"{at[-1]}."):
                at = at[:-1]
                field = f"{where}.{loc(at)}.{msg}" if at else f"{where}.{msg}"
            else:
                field = f"{where}.{loc(at)}: {msg}" if at else f"{where}: {msg}"
            lines.append(field)
        raise ConfigError(f"{file}: " + "; ".join(lines)) from None


def read_yaml(file: Path, root: Path, env: dict[str, str]) -> dict[str, Any]:
    """A tenant YAML file as a mapping, environment references filled in."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file.relative_to(root)}: not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{file.relative_to(root)}: expected a mapping at the top level")
    return interpolate(data or {}, file.relative_to(root), env)


def entries(root: Path, file: str, key: str, env: dict[str, str]) -> list[Any]:
    """The list under ``key``, the file's only top-level key (none if the file is absent)."""
    path = root / file
    if not path.is_file():
        return []
    data = read_yaml(path, root, env)
    unknown = sorted(set(data) - {key})
    if unknown:
        raise ConfigError(f"{file}: unknown top-level keys {unknown}; expected '{key}'")
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{file}: {key}: expected a list")
    return items


def check_unique(names: Iterable[str], file: str, key: str) -> None:
    """Entries of one list must have distinct names: ``<file>: <key>[i].name: ...``."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(f"{file}: {key}[{i}].name: {name!r} is already used by "
                              f"{key}[{seen[name]}]")
        seen[name] = i
