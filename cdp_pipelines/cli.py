"""The ``cdp`` command.

    cdp demo generate [--people N] [--seed S] [--days D] [--out DIR]
    cdp demo services start|stop|status   the demo's S3 and SFTP stand-ins
    cdp demo publish [--drop DIR]         copy the generated remote sources onto them
    cdp validate                      load and check the tenant configuration
    cdp materialize [--select SEL]    run assets (all by default) into the Dagster instance
    cdp trino start|stop|status       the embedded local Trino server
    cdp query "SQL" [--user U]        run SQL on Trino and print the rows
    cdp collect serve [--port P]      the event collector (Segment HTTP Tracking API)
    cdp sandbox create|list|ui|pull|diff|promote|delete NAME
    cdp audit show [--csv FILE]
"""

from __future__ import annotations

import argparse
import os
import sys


def _demo_generate(args: argparse.Namespace) -> int:
    from cdp_pipelines.examples.demo_tenant import generator

    argv = ["--people", str(args.people), "--seed", str(args.seed), "--days", str(args.days),
            "--out", args.out]
    return generator.main(argv)


def _demo_services(args: argparse.Namespace) -> int:
    from cdp_pipelines.examples import standins

    if args.action == "start":
        running = standins.start()
        print(f"demo stand-ins running: S3 at {running.s3_endpoint}, SFTP at "
              f"{standins.LOOPBACK}:{running.sftp_port} (home {running.home})")
    elif args.action == "stop":
        stopped = standins.stop()
        print(f"stopped {stopped}" if stopped else "not running")
    else:
        up = standins.status()
        print(", ".join(f"{name} {'up' if ok else 'down'}" for name, ok in up.items()))
        return 0 if all(up.values()) else 3
    return 0


def _demo_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cdp_pipelines.examples import standins

    counts = standins.publish(Path(args.drop))
    print("published " + ", ".join(f"{n} files to {where}" for where, n in counts.items()))
    return 0


def _validate(_: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.tenant import ConfigError, load_tenant

    deployment = get_deployment()
    try:
        config = load_tenant(deployment.tenant_dir)
    except ConfigError as exc:
        print(f"invalid tenant configuration: {exc}", file=sys.stderr)
        return 1
    print(f"tenant {config.tenant.name}: {len(config.sources)} sources, "
          f"{len(config.feeds)} feeds, {len(config.custom_domain_tables)} custom tables, "
          f"{len(config.queries)} queries, {len(config.segments)} segments, "
          f"{len(config.campaigns)} campaigns, {len(config.orchestrations)} "
          "orchestrations: OK")
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


def _trino(args: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.resources import trino_server

    deployment = get_deployment()
    home = deployment.trino_home
    if args.action == "start":
        server = trino_server.start(home, port=deployment.trino_port,
                                    lake_root=deployment.lake_root)
        print(f"trino running at {server.url} (home {home})")
    elif args.action == "stop":
        print("stopped" if trino_server.stop(home) else "not running")
    else:
        server = trino_server.status(home)
        print(f"running at {server.url}" if server else "not running")
        return 0 if server else 3
    return 0


def _query(args: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.resources.trino import TrinoResource

    deployment = get_deployment()
    trino = TrinoResource(host=deployment.trino_host, port=deployment.trino_port,
                          user=args.user or deployment.trino_user)
    df = trino.query_df(args.sql)
    print(df.to_string(index=False, max_rows=args.max_rows))
    return 0


def _collect_serve(args: argparse.Namespace) -> int:
    from cdp_pipelines.events.collector import RollPolicy
    from cdp_pipelines.events.server import serve

    try:
        serve(args.host, args.port, args.workers,
              RollPolicy(max_bytes=args.roll_mb << 20, max_seconds=args.roll_seconds))
    except ValueError as exc:  # configuration, deployment or a missing write key
        print(f"cannot start the collector: {exc}", file=sys.stderr)
        return 1
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
    services = demo.add_parser("services", help="the demo's local S3 and SFTP stand-ins")
    services.add_argument("action", choices=["start", "stop", "status"])
    services.set_defaults(func=_demo_services)
    publish = demo.add_parser("publish", help="copy the generated remote sources onto the "
                                              "stand-ins")
    publish.add_argument("--drop", default=os.environ.get("CDP_DEMO_DROP", ".cdp/demo/drop"))
    publish.set_defaults(func=_demo_publish)

    sub.add_parser("validate", help="validate the tenant configuration").set_defaults(
        func=_validate)

    mat = sub.add_parser("materialize", help="materialize assets (all by default)")
    mat.add_argument("--select", default="*", help="Dagster asset selection, e.g. 'domain/*'")
    mat.set_defaults(func=_materialize)

    trino = sub.add_parser("trino", help="the embedded local Trino server")
    trino.add_argument("action", choices=["start", "stop", "status"])
    trino.set_defaults(func=_trino)

    query = sub.add_parser("query", help="run SQL on Trino")
    query.add_argument("sql")
    query.add_argument("--user", help="Trino user (default CDP_TRINO_USER or admin)")
    query.add_argument("--max-rows", type=int, default=100)
    query.set_defaults(func=_query)

    collect = sub.add_parser("collect", help="event collection").add_subparsers(
        dest="collect_command", required=True)
    serve = collect.add_parser("serve", help="run the collector (Segment HTTP Tracking API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--roll-seconds", type=float, default=10.0,
                       help="close a landing file (making it loadable) after this long")
    serve.add_argument("--roll-mb", type=int, default=64,
                       help="close a landing file once it holds this many MiB")
    serve.set_defaults(func=_collect_serve)

    from cdp_pipelines.sandbox.cli import register as register_sandbox

    register_sandbox(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
