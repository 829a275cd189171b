"""Read a tenant directory into a validated :class:`TenantConfig`.

Layout::

    tenant.yaml            name, description, timezone
    sources/*.yaml         one source each: couriers and feeds
    domain/*.sql           custom domain tables (Spark SQL; the file name is the table name)
    stitch.yaml            identity-resolution settings (optional)
    courier_groups.yaml    schedules that run couriers and what depends on them (optional)

Strings may use ``${VAR}`` or ``${VAR:-default}`` to read the environment. Every error
names the file and the field, e.g. ``sources/pos.yaml: feeds[0].primary_key: ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cdp_pipelines.config.models import (
    CourierGroupSpec,
    CustomDomainTable,
    SourceSpec,
    StitchSpec,
    TenantConfig,
    TenantSpec,
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SQL_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*)$")


class ConfigError(ValueError):
    """The tenant configuration is wrong; the message names file and field."""


def _interpolate(value: Any, file: Path, env: dict[str, str], where: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, file, env, f"{where}.{k}" if where else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, file, env, f"{where}[{i}]") for i, v in enumerate(value)]
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


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validate(model: type, data: Any, file: Path, root: Path, **extra: Any) -> Any:
    try:
        return model.model_validate({**(data or {}), **extra})
    except ValidationError as exc:
        lines = [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{file.relative_to(root)}: " + "; ".join(lines)) from None


def _read_yaml(file: Path, root: Path, env: dict[str, str]) -> Any:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file.relative_to(root)}: not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{file.relative_to(root)}: expected a mapping at the top level")
    return _interpolate(data or {}, file.relative_to(root), env)


def _read_custom_table(file: Path, root: Path) -> CustomDomainTable:
    """A SQL file; leading ``-- key: value`` comment lines configure it."""
    sql = file.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    for line in sql.splitlines():
        match = _SQL_HEADER.match(line.strip())
        if not match:
            break
        header[match.group(1)] = match.group(2).strip()
    tags: dict[str, tuple[str, ...]] = {}
    for item in filter(None, (t.strip() for t in header.get("tags", "").split(","))):
        column, _, tag = item.partition("=")
        tags.setdefault(column.strip(), ())
        tags[column.strip()] += (tag.strip(),)
    data = {
        "name": file.stem,
        "sql": sql,
        "path": file,
        "stitch": header.get("stitch", "false").lower() in ("true", "yes", "1"),
        "tags": tags,
        "primary_key": tuple(k.strip() for k in header.get("primary_key", "").split(",") if k.strip()),
    }
    return _validate(CustomDomainTable, data, file, root)


def load_tenant(tenant_dir: str | Path, env: dict[str, str] | None = None) -> TenantConfig:
    """Load and validate the tenant in ``tenant_dir``."""
    root = Path(tenant_dir).resolve()
    env = dict(os.environ if env is None else env)
    tenant_file = root / "tenant.yaml"
    if not tenant_file.is_file():
        raise ConfigError(f"{root}: no tenant.yaml; is CDP_TENANT_DIR pointing at a tenant directory?")
    tenant = _validate(TenantSpec, _read_yaml(tenant_file, root, env), tenant_file, root)

    source_files = sorted((root / "sources").glob("*.y*ml"))
    sources = [_validate(SourceSpec, _read_yaml(f, root, env), f, root) for f in source_files]
    custom = [_read_custom_table(f, root) for f in sorted((root / "domain").glob("*.sql"))]
    stitch_file = root / "stitch.yaml"
    stitch = (
        _validate(StitchSpec, _read_yaml(stitch_file, root, env), stitch_file, root)
        if stitch_file.is_file() else StitchSpec()
    )
    groups_file = root / "courier_groups.yaml"
    groups = tuple(
        _validate(CourierGroupSpec, g, groups_file, root)
        for g in _read_yaml(groups_file, root, env).get("groups", [])
    ) if groups_file.is_file() else ()
    config = TenantConfig(
        root=root, tenant=tenant, sources=tuple(sources),
        custom_domain_tables=tuple(custom), stitch=stitch, courier_groups=groups,
    )
    _check_references(config, [f.relative_to(root) for f in source_files])
    from cdp_pipelines.orchestration.courier_groups import validate_courier_groups

    try:
        validate_courier_groups(config)
    except ValueError as exc:
        raise ConfigError(f"courier_groups.yaml: {exc}") from None
    return config


def _check_references(config: TenantConfig, source_files: list[Path]) -> None:
    """Names must be unique across files: they become tables and asset keys."""
    seen: dict[str, str] = {}

    def claim(name: str, where: str) -> None:
        if name in seen:
            raise ConfigError(f"{where}: name {name!r} is already used by {seen[name]}")
        seen[name] = where

    source_names: dict[str, Path] = {}
    for file, source in zip(source_files, config.sources):
        if source.name in source_names:
            raise ConfigError(
                f"{file}: name: source {source.name!r} is already defined in "
                f"{source_names[source.name]}"
            )
        source_names[source.name] = file
        for i, feed in enumerate(source.feeds):
            claim(feed.name, f"{file}: feeds[{i}].name")
    for table in config.custom_domain_tables:
        claim(table.name, f"domain/{table.path.name}")

    feeds = {feed.name: feed for _, feed in config.feeds}
    for file, source in zip(source_files, config.sources):
        for i, feed in enumerate(source.feeds):
            for j, field in enumerate(feed.fields):
                where = f"{file}: feeds[{i}].fields[{j}]"
                if field.references and field.references not in feeds:
                    raise ConfigError(
                        f"{where}.references: no feed named {field.references!r}; "
                        f"feeds are {sorted(feeds)}"
                    )
                if "customer-key" in field.tags and not field.references:
                    raise ConfigError(
                        f"{where}.references: a customer-key field must name the customer feed "
                        "whose primary key it holds"
                    )
