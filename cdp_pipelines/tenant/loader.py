"""The one reader of a tenant directory: every file into one validated :class:`Tenant`.

Layout (every file but ``tenant.yaml`` optional)::

    tenant.yaml                    name, description, timezone
    sources/*.yaml                 one source each: couriers and feeds
    domain/*.sql                   custom domain tables (Spark SQL; file name = table name)
    events/*.yaml                  event sources: write keys and tracking plans (file name =
                                   source name)
    stitch.yaml                    identity-resolution settings
    privacy.yaml                   privacy requests: salt secret, retention, DSAR target
    courier_groups.yaml            schedules that run couriers and what depends on them
    computed_traits.yaml           traits computed per customer from their events
    databases/<db>/*.sql           custom Customer 360 tables
    activation/queries.yaml, activation/queries/*.sql   saved queries
    activation/segments.yaml, campaigns.yaml            audiences
    activation/destinations.yaml, templates.yaml, orchestrations.yaml   delivery

Strings may use ``${VAR}`` or ``${VAR:-default}`` to read the environment. Every error
names the file and the field, e.g. ``sources/pos.yaml: feeds[0].primary_key: ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field

from cdp_pipelines.tenant.audiences import (
    CAMPAIGNS_FILE,
    QUERIES_DIR,
    QUERIES_FILE,
    SEGMENTS_FILE,
    CampaignSpec,
    SavedQuery,
    SavedQuerySettings,
    SegmentSpec,
)
from cdp_pipelines.tenant.base import IDENTIFIER, TenantModel
from cdp_pipelines.tenant.databases import DatabaseTable
from cdp_pipelines.tenant.delivery import (
    DESTINATIONS_FILE,
    ORCHESTRATIONS_FILE,
    TEMPLATES_FILE,
    DestinationSpec,
    OrchestrationSpec,
    TemplateSpec,
)
from cdp_pipelines.tenant.errors import ConfigError
from cdp_pipelines.tenant.events import EVENTS_DIR, EventSourceSpec
from cdp_pipelines.tenant.files import (
    check_unique,
    entries,
    read_yaml,
    validate,
    validate_item,
)
from cdp_pipelines.tenant.model import Tenant, TenantSpec
from cdp_pipelines.tenant.privacy import PRIVACY_FILE, PrivacySpec
from cdp_pipelines.tenant.references import check_references
from cdp_pipelines.tenant.schedules import CourierGroupSpec
from cdp_pipelines.tenant.sources import CustomDomainTable, SourceSpec
from cdp_pipelines.tenant.stitch import StitchSpec
from cdp_pipelines.tenant.traits import TRAITS_FILE, ComputedTraitSpec

_SQL_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*)$")
COURIER_GROUPS_FILE = "courier_groups.yaml"


def load_tenant(tenant_dir: str | Path, env: dict[str, str] | None = None) -> Tenant:
    """Load every file of the tenant in ``tenant_dir`` and check every cross-reference."""
    root = Path(tenant_dir).resolve()
    env = dict(os.environ if env is None else env)
    tenant_file = root / "tenant.yaml"
    if not tenant_file.is_file():
        raise ConfigError(f"{root}: no tenant.yaml; is CDP_TENANT_DIR pointing at a tenant directory?")
    tenant = validate(TenantSpec, read_yaml(tenant_file, root, env), tenant_file, root)

    source_files = sorted((root / "sources").glob("*.y*ml"))
    sources = [validate(SourceSpec, read_yaml(f, root, env), f, root) for f in source_files]
    stitch_file = root / "stitch.yaml"
    stitch = (validate(StitchSpec, read_yaml(stitch_file, root, env), stitch_file, root)
              if stitch_file.is_file() else StitchSpec())
    privacy_file = root / PRIVACY_FILE
    privacy = (validate(PrivacySpec, read_yaml(privacy_file, root, env), privacy_file, root)
               if privacy_file.is_file() else None)
    groups = tuple(validate_item(CourierGroupSpec, g, COURIER_GROUPS_FILE, _group_where(i, g))
                   for i, g in enumerate(entries(root, COURIER_GROUPS_FILE, "groups", env)))
    check_unique((g.name for g in groups), COURIER_GROUPS_FILE, "groups")
    databases, database_tables = _load_databases(root)
    segments = tuple(validate_item(SegmentSpec, e, SEGMENTS_FILE, f"segments[{i}]")
                     for i, e in enumerate(entries(root, SEGMENTS_FILE, "segments", env)))
    check_unique((s.name for s in segments), SEGMENTS_FILE, "segments")
    campaigns = tuple(validate_item(CampaignSpec, e, CAMPAIGNS_FILE, f"campaigns[{i}]")
                      for i, e in enumerate(entries(root, CAMPAIGNS_FILE, "campaigns", env)))
    check_unique((c.name for c in campaigns), CAMPAIGNS_FILE, "campaigns")
    traits = tuple(validate_item(ComputedTraitSpec, t, TRAITS_FILE, f"traits[{i}]")
                   for i, t in enumerate(entries(root, TRAITS_FILE, "traits", env)))
    check_unique((t.name for t in traits), TRAITS_FILE, "traits")
    config = Tenant(
        root=root, tenant=tenant, sources=tuple(sources),
        custom_domain_tables=tuple(_read_custom_table(f, root)
                                   for f in sorted((root / "domain").glob("*.sql"))),
        stitch=stitch, courier_groups=groups, databases=databases,
        database_tables=database_tables, queries=load_queries(root, env), segments=segments,
        campaigns=campaigns, destinations=load_destinations(root, env),
        templates=load_templates(root, env), orchestrations=_load_orchestrations(root, env),
        event_sources=_load_event_sources(root, env), computed_traits=traits,
        privacy=privacy,
    )
    check_references(config, [f.relative_to(root) for f in source_files])
    return config


def _group_where(i: int, group: object) -> str:
    """``groups[1] (nightly)``: errors name the group as well as its place."""
    name = group.get("name") if isinstance(group, dict) else None
    return f"groups[{i}] ({name})" if isinstance(name, str) else f"groups[{i}]"
def _load_event_sources(root: Path, env: dict[str, str]) -> tuple[EventSourceSpec, ...]:
    """``events/<source>.yaml``: the source is named by its file."""
    sources = []
    for file in sorted((root / EVENTS_DIR).glob("*.y*ml")):
        data = read_yaml(file, root, env)
        if "name" in data:
            raise ConfigError(f"{file.relative_to(root)}: name: an event source is named by "
                              f"its file ({file.stem}); remove 'name'")
        sources.append(validate(EventSourceSpec, data, file, root, name=file.stem))
    return tuple(sources)


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
    return validate(CustomDomainTable, data, file, root)


def _load_databases(root: Path) -> tuple[tuple[str, ...], tuple[DatabaseTable, ...]]:
    """Database names (``databases/<db>/``) and their custom tables, in name order."""
    names, tables = [], []
    for directory in sorted((root / "databases").glob("*")):
        if not directory.is_dir():
            continue
        if not IDENTIFIER.match(directory.name):
            raise ConfigError(f"databases/{directory.name}: a database name must be lower-case "
                              "letters, digits and '_', starting with a letter")
        names.append(directory.name)
        for sql_file in sorted(directory.glob("*.sql")):
            tables.append(validate(DatabaseTable, {
                "database": directory.name, "name": sql_file.stem, "path": sql_file,
                "sql": sql_file.read_text(encoding="utf-8")}, sql_file, root))
    return tuple(names), tuple(tables)


def load_queries(root: Path, env: dict[str, str]) -> tuple[SavedQuery, ...]:
    """Saved queries: one SQL file each, described in ``queries.yaml`` if at all."""
    settings = [validate_item(SavedQuerySettings, e, QUERIES_FILE, f"queries[{i}]")
                for i, e in enumerate(entries(root, QUERIES_FILE, "queries", env))]
    check_unique((s.name for s in settings), QUERIES_FILE, "queries")
    files = {f.stem: f for f in sorted((root / QUERIES_DIR).glob("*.sql"))}
    for i, s in enumerate(settings):
        if s.name not in files:
            raise ConfigError(f"{QUERIES_FILE}: queries[{i}].name: no file "
                              f"{QUERIES_DIR}/{s.name}.sql; query files are "
                              f"{sorted(files) or 'none'}")
    by_name = {s.name: s for s in settings}
    queries = []
    for name, path in files.items():
        base = by_name[name].model_dump() if name in by_name else {"name": name}
        sql = path.read_text(encoding="utf-8")
        if not sql.strip():
            raise ConfigError(f"{QUERIES_DIR}/{path.name}: the file is empty")
        queries.append(validate_item(SavedQuery, {**base, "sql": sql, "path": path},
                                     f"{QUERIES_DIR}/{path.name}", "query"))
    return tuple(queries)


class _DestinationsFile(TenantModel):
    destinations: list[DestinationSpec] = Field(default_factory=list)


class _TemplatesFile(TenantModel):
    templates: list[TemplateSpec] = Field(default_factory=list)


class _OrchestrationsFile(TenantModel):
    orchestrations: list[OrchestrationSpec] = Field(default_factory=list)


def _read_list(model: type, root: Path, file: str, env: dict[str, str]) -> list:
    path = root / file
    if not path.is_file():
        return []
    key = next(iter(model.model_fields))
    items = getattr(validate(model, read_yaml(path, root, env), path, root), key)
    check_unique((item.name for item in items), file, key)
    return items


def load_destinations(root: Path, env: dict[str, str]) -> dict[str, DestinationSpec]:
    """``activation/destinations.yaml``; a relative ``pgp.public_key_file`` is relative to
    the tenant directory ``root``."""
    out: dict[str, DestinationSpec] = {}
    for i, spec in enumerate(_read_list(_DestinationsFile, root, DESTINATIONS_FILE, env)):
        if spec.pgp is not None:
            key = Path(spec.pgp.public_key_file).expanduser()
            key = key if key.is_absolute() else root / key
            if not key.is_file():
                raise ConfigError(f"{DESTINATIONS_FILE}: destinations[{i}].pgp.public_key_file: "
                                  f"{key} does not exist")
            spec = spec.model_copy(update={"pgp": spec.pgp.model_copy(
                update={"public_key_file": str(key)})})
        out[spec.name] = spec
    return out


def load_templates(root: Path, env: dict[str, str]) -> dict[str, TemplateSpec]:
    """``activation/templates.yaml``."""
    return {t.name: t for t in _read_list(_TemplatesFile, root, TEMPLATES_FILE, env)}


def _load_orchestrations(root: Path, env: dict[str, str]) -> tuple[OrchestrationSpec, ...]:
    return tuple(_read_list(_OrchestrationsFile, root, ORCHESTRATIONS_FILE, env))
