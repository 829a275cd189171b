"""The ``cdp`` command.

    cdp demo generate [--people N] [--seed S] [--days D] [--out DIR]
    cdp validate                      load and check the tenant configuration
    cdp materialize [--select SEL]    run assets (all by default) into the Dagster instance
"""

from __future__ import annotations

import argparse
import sys


def _demo_generate(args: argparse.Namespace) -> int:
    from cdp_pipelines.examples.demo_tenant import generator

    argv = ["--people", str(args.people), "--seed", str(args.seed), "--days", str(args.days),
            "--out", args.out]
    return generator.main(argv)


def _validate(_: argparse.Namespace) -> int:
    from cdp_pipelines.config.loader import ConfigError, load_tenant
    from cdp_pipelines.deployment import get_deployment

    deployment = get_deployment()
    try:
        config = load_tenant(deployment.tenant_dir)
    except ConfigError as exc:
        print(f"invalid tenant configuration: {exc}", file=sys.stderr)
        return 1
    print(f"tenant {config.tenant.name}: {len(config.sources)} sources, "
          f"{len(config.feeds)} feeds, {len(config.custom_domain_tables)} custom tables: OK")
    return 0


def _materialize(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance, materialize

    from cdp_pipelines.definitions import build_definitions

    defs = build_definitions()
    assets = list(defs.assets or [])
    result = materialize(
        assets,
        instance=DagsterInstance.get(),
        resources=defs.resources,
        selection=args.select,
        raise_on_error=False,
    )
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        rows = event.materialization.metadata.get("dagster/row_count")
        print(f"materialized {key}" + (f" ({rows.value} rows)" if rows else ""))
    for event in result.get_asset_check_evaluations():
        status = "passed" if event.passed else f"FAILED ({event.severity.value})"
        print(f"check {event.asset_key.to_user_string()}:{event.check_name} {status}")
    if not result.success:
        failed = [e.step_key for e in result.get_step_failure_events()]
        print(f"run {result.run_id} failed at steps: {failed}", file=sys.stderr)
        return 1
    print(f"run {result.run_id} succeeded")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="cdp-pipelines command line")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the bundled demo tenant").add_subparsers(
        dest="demo_command", required=True)
    gen = demo.add_parser("generate", help="generate the demo tenant's source files")
    gen.add_argument("--people", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--days", type=int, default=2)
    gen.add_argument("--out", default=".cdp/demo")
    gen.set_defaults(func=_demo_generate)

    sub.add_parser("validate", help="validate the tenant configuration").set_defaults(
        func=_validate)

    mat = sub.add_parser("materialize", help="materialize assets (all by default)")
    mat.add_argument("--select", default="*", help="Dagster asset selection, e.g. 'domain/*'")
    mat.set_defaults(func=_materialize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
