"""Every cross-reference of a tenant, checked once after all its files are read: a name
that points nowhere is an error naming the file and the field that holds it."""

from __future__ import annotations

from pathlib import Path

from cdp_pipelines.tenant.audiences import CAMPAIGNS_FILE, SEGMENTS_FILE
from cdp_pipelines.tenant.delivery import (
    DESTINATIONS_FILE,
    ORCHESTRATIONS_FILE,
    TEMPLATES_FILE,
)
from cdp_pipelines.tenant.errors import ConfigError
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.privacy import PRIVACY_FILE
from cdp_pipelines.tenant.traits import TRAITS_FILE


def check_references(config: Tenant, source_files: list[Path]) -> None:
    _check_table_names(config, source_files)
    _check_feed_references(config, source_files)
    _check_courier_groups(config)
    _check_campaigns(config)
    _check_orchestrations(config)
    _check_traits(config)
    _check_privacy(config)


def _check_table_names(config: Tenant, source_files: list[Path]) -> None:
    """Names must be unique across files: they become tables and asset keys."""
    seen: dict[str, str] = {}

    def claim(name: str, where: str) -> None:
        if name in seen:
            raise ConfigError(f"{where}: name {name!r} is already used by {seen[name]}")
        seen[name] = where

    source_names: dict[str, Path] = {}
    for file, source in zip(source_files, config.sources):
        if source.name == "events":
            raise ConfigError(f"{file}: name: 'events' is where event sources land "
                              "(landing/events/); name the source differently")
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
    for source in config.event_sources:
        for table in source.tables:
            claim(table, f"events/{source.name}.yaml: (table {table} of event source "
                         f"{source.name})")


def _check_feed_references(config: Tenant, source_files: list[Path]) -> None:
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


def _check_courier_groups(config: Tenant) -> None:
    """Every group names couriers the tenant defines; the error names group and courier."""
    known = {c.name for _, c in config.couriers}
    for i, group in enumerate(config.courier_groups):
        for j, member in enumerate(group.couriers):
            if member.courier not in known:
                raise ConfigError(
                    f"courier_groups.yaml: groups[{i}] ({group.name}).couriers[{j}] names "
                    f"courier {member.courier!r}, which no source defines; couriers: "
                    f"{sorted(known)}")


def _check_campaigns(config: Tenant) -> None:
    segments = config.audience_names("segment")
    known = sorted(segments) or "none"
    for i, c in enumerate(config.campaigns):
        refs = [("include", c.include)]
        refs += [(f"exclude[{j}]", s) for j, s in enumerate(c.exclude)]
        refs += [(f"sub_audiences[{j}].segment", s.segment)
                 for j, s in enumerate(c.sub_audiences) if s.segment]
        for field, name in refs:
            if name not in segments:
                raise ConfigError(f"{CAMPAIGNS_FILE}: campaigns[{i}].{field}: no segment named "
                                  f"{name!r} in {SEGMENTS_FILE}; segments are {known}")
        if c.one_per_household and not config.stitch.households.enabled:
            raise ConfigError(
                f"{CAMPAIGNS_FILE}: campaigns[{i}].one_per_household: households are off in "
                "stitch.yaml (households: {enabled: false}); turn them on or drop the option")
        for j, treatment in enumerate(c.treatments):
            if treatment.destination not in config.destinations:
                raise ConfigError(
                    f"{CAMPAIGNS_FILE}: campaign {c.name}: treatments[{j}]"
                    f".destination {treatment.destination!r} is not in {DESTINATIONS_FILE} "
                    f"(destinations: {sorted(config.destinations)})")


def _check_orchestrations(config: Tenant) -> None:
    group_names = {g.name for g in config.courier_groups}
    for i, o in enumerate(config.orchestrations):
        at = f"{ORCHESTRATIONS_FILE}: orchestrations[{i}] ({o.name})"
        names = config.audience_names(o.kind)
        if o.audience not in names:
            raise ConfigError(f"{at}.{o.kind}: no {o.kind} named {o.audience!r} "
                              f"(known: {sorted(names)})")
        destinations = [d for _, d in config.routes(o)]
        for d in destinations:
            if d not in config.destinations:
                raise ConfigError(f"{at}.destination: {d!r} is not in {DESTINATIONS_FILE} "
                                  f"(destinations: {sorted(config.destinations)})")
        stray = sorted(set(o.templates) - set(destinations))
        if stray:
            raise ConfigError(f"{at}.templates: {stray} are not destinations of this "
                              f"orchestration ({sorted(set(destinations))})")
        for t in [o.template, *o.templates.values()]:
            if t and t not in config.templates:
                raise ConfigError(f"{at}: template {t!r} is not in {TEMPLATES_FILE} "
                                  f"(templates: {sorted(config.templates)})")
        if o.after_courier_group and o.after_courier_group not in group_names:
            raise ConfigError(f"{at}.after_courier_group: no courier group "
                              f"{o.after_courier_group!r} (groups: {sorted(group_names)})")


def _check_traits(config: Tenant) -> None:
    """Traits read event sources that exist; a named track event must be planned when
    no source takes unplanned events (a typo would count nothing, silently)."""
    sources = {s.name: s for s in config.event_sources}
    if config.computed_traits and not sources:
        raise ConfigError(f"{TRAITS_FILE}: traits are computed from events, and the tenant "
                          "has no event source (events/<source>.yaml)")
    for i, trait in enumerate(config.computed_traits):
        at = f"{TRAITS_FILE}: traits[{i}] ({trait.name})"
        if trait.source is not None and trait.source not in sources:
            raise ConfigError(f"{at}.source: no event source {trait.source!r} (sources: "
                              f"{sorted(sources)})")
        readers = [sources[trait.source]] if trait.source else list(sources.values())
        if trait.event is None or trait.call_type() != "track" or any(
                s.allow_unplanned_events for s in readers):
            continue
        planned = sorted({e.name for s in readers for e in s.events})
        if trait.event not in planned:
            raise ConfigError(f"{at}.event: {trait.event!r} is in no tracking plan; planned "
                              f"events: {planned}")


def _check_privacy(config: Tenant) -> None:
    """Match keys are tags some Stitch field carries; notified destinations exist; a
    privacy-request source needs privacy.yaml (its requests cannot be applied without)."""
    if config.privacy is None:
        sources = [s.name for s in config.sources if s.type == "privacy-request"]
        if sources:
            raise ConfigError(f"sources/{sources[0]}.yaml: type: a privacy-request source "
                              f"needs {PRIVACY_FILE} (the salt deleted identifiers are hashed "
                              "with)")
        return
    tags = {t for _, feed in config.feeds if feed.stitch for f in feed.fields for t in f.tags}
    for i, key in enumerate(config.privacy.match_keys):
        if key not in tags:
            raise ConfigError(f"{PRIVACY_FILE}: match_keys[{i}]: no Stitch feed has a field "
                              f"tagged {key!r}; tags in use: {sorted(tags)}")
    for i, name in enumerate(config.privacy.notify_destinations):
        if name not in config.destinations:
            raise ConfigError(f"{PRIVACY_FILE}: notify_destinations[{i}]: {name!r} is not in "
                              f"{DESTINATIONS_FILE} (destinations: "
                              f"{sorted(config.destinations)})")
