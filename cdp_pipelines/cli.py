"""The ``cdp`` command.

    cdp demo generate [--people N] [--seed S] [--days D] [--out DIR]
    cdp demo services start|stop|status   the demo's S3 and SFTP stand-ins
    cdp demo publish [--drop DIR]         copy the generated remote sources onto them
    cdp demo tenant [--dir DIR] [--user U]  the demo's tenant as a git repository with roles
    cdp validate                      load and check the tenant configuration
    cdp materialize [--select SEL]    run assets (all by default) into the Dagster instance
    cdp stitch [--full|--incremental] run Stitch (its group's assets), as stitch.yaml's mode
                                      says or as asked for this run
    cdp trino start|stop|status       the embedded local Trino server
    cdp query "SQL" [--user U]        run SQL on Trino as analyst (or U) and print the rows
    cdp collect serve [--port P]      the event collector (Segment HTTP Tracking API)
    cdp sandbox create|list|ui|pull|diff|promote|delete NAME
    cdp audit show [--csv FILE]

An expected failure (a bad tenant file, a Trino or transport error, a missing file) ends
in a line or two on stderr saying what failed and what to do, with exit status 1;
``--debug`` (anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path


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


def _demo_tenant(args: argparse.Namespace) -> int:
    from cdp_pipelines.examples.demo_repo import ROLES_FILE, init_demo_tenant

    user = args.user or os.environ.get("CDP_USER") or _login_name()
    repo = init_demo_tenant(args.dir, user)
    if repo.created:
        print(f"demo tenant repository: {repo.path} (branch main @ {repo.commit[:12]}; "
              f"{user} is sandbox-admin in {ROLES_FILE})")
    else:
        roles = ", ".join(sorted(repo.roles)) or f"none: add {user} to {ROLES_FILE}"
        print(f"demo tenant repository: {repo.path} (kept as it is; {user}'s roles: "
              f"{roles})")
    return 0


def _login_name() -> str:
    import getpass

    return getpass.getuser()


def _checked_tenant():
    """The tenant, loaded and checked as far as anything can be before a run: every file,
    every cross-reference, and every secret it names (that it exists, never its value)."""
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.tenant import load_tenant
    from cdp_pipelines.tenant.secrets import check_secrets

    config = load_tenant(get_deployment().tenant_dir)
    check_secrets(config)
    return config


def _validate(_: argparse.Namespace) -> int:
    from cdp_pipelines.tenant import ConfigError

    try:
        config = _checked_tenant()
    except ConfigError as exc:
        print(f"invalid tenant configuration: {exc}", file=sys.stderr)
        return 1
    print(f"tenant {config.tenant.name}: {len(config.sources)} sources, "
          f"{len(config.feeds)} feeds, {len(config.custom_domain_tables)} custom tables, "
          f"{len(config.queries)} queries, {len(config.segments)} segments, "
          f"{len(config.campaigns)} campaigns, {len(config.orchestrations)} "
          "orchestrations: OK")
    return 0


def _quiet_libraries() -> Path:
    """Send library noise (Spark, sqlglot, Splink, Great Expectations' progress bars) to a
    log file, so the terminal shows the run's steps and results; return the file."""
    import logging
    from datetime import datetime

    logs = Path(os.environ.get("DAGSTER_HOME") or ".cdp").expanduser() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"cdp-{datetime.now():%Y%m%dT%H%M%S}.log"
    logging.basicConfig(filename=path, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("CDP_SPARK_LOG_LEVEL", "ERROR")
    return path


def _next_steps(result) -> list[str]:
    """What a user of the demo does next: the UI, a first query, the delivered files."""
    delivered = sorted({d["target"] for e in result.get_asset_materialization_events()
                        for d in (e.materialization.metadata.get("deliveries").value
                                  if e.materialization.metadata.get("deliveries") else {}
                                  ).values() if d.get("status") == "sent"})
    lines = ["", "Next:",
             "  Dagster UI:   make ui, then http://localhost:3000",
             "  a first query, as analyst (PII masked):",
             "    .venv/bin/cdp query \"SELECT state, count(*) AS customers FROM "
             "c360.customer_360 GROUP BY 1 ORDER BY 2 DESC\""]
    lines += [f"  delivered:    {target}" for target in delivered]
    from cdp_pipelines.deployment import get_deployment

    if (get_deployment().tenant_dir / "roles.yaml").is_file():
        user = os.environ.get("CDP_USER") or _login_name()
        lines += ["  a sandbox of the demo's configuration (README: Sandboxes on the demo):",
                  f"    CDP_USER={user} .venv/bin/cdp sandbox create trial"]
    return lines


def _materialize(args: argparse.Namespace) -> int:
    return _run_assets(args.select, args.select or "every asset")


def stitch_run_tags(args: argparse.Namespace) -> dict[str, str]:
    """The run tags of ``cdp stitch``: the mode asked for, else none (stitch.yaml's)."""
    from cdp_pipelines.keys import STITCH_MODE_TAG

    mode = "full" if args.full else "incremental" if args.incremental else None
    return {STITCH_MODE_TAG: mode} if mode else {}


def _stitch(args: argparse.Namespace) -> int:
    from dagster import AssetSelection

    from cdp_pipelines.keys import STITCH_GROUP

    tags = stitch_run_tags(args)
    mode = next(iter(tags.values()), "the mode stitch.yaml sets")
    return _run_assets(AssetSelection.groups(STITCH_GROUP), f"Stitch ({mode})", tags)


def _run_assets(selection, what: str, tags: dict[str, str] | None = None) -> int:
    """Materialize `selection` into the Dagster instance, print what was built and checked,
    and what to do next."""
    from dagster import DagsterInstance, materialize

    from cdp_pipelines.definitions import build_definitions
    from cdp_pipelines.pools import ensure_pool_slots

    _checked_tenant()  # a config error stops here, before any run, as one message
    log_file = _quiet_libraries()
    defs = build_definitions()
    assets = list(defs.assets or [])
    print(f"materializing {what} (library logs: {log_file})", flush=True)
    instance = DagsterInstance.get()
    ensure_pool_slots(instance, (pool for node in defs.get_repository_def().asset_graph.asset_nodes
                                 for pool in node.pools or ()))
    result = materialize(
        assets,
        instance=instance,
        resources=defs.resources,
        selection=selection,
        raise_on_error=False,
        tags=tags or None,
        # The run's own INFO lines (stages, counts, seconds), not every engine event.
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
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
        print(f"run {result.run_id} failed at steps: {failed}; details in the Dagster UI "
              f"(make ui) and {log_file}", file=sys.stderr)
        return 1
    print(f"run {result.run_id} succeeded")
    print("\n".join(_next_steps(result)))
    return 0


def _trino(args: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.resources import trino_access, trino_server

    deployment = get_deployment()
    home = deployment.trino_home
    if args.action == "init-rules":
        # An external Trino with file-based access control (docker/): its rules file must
        # exist before it starts; publication rewrites it with every table's masks.
        path = os.environ.get("CDP_TRINO_RULES_FILE")
        if not path:
            print("cdp trino init-rules: set CDP_TRINO_RULES_FILE to the rules file the "
                  "Trino server reads (security.config-file)", file=sys.stderr)
            return 2
        if Path(path).exists():
            print(f"{path} exists; publication keeps it up to date")
        else:
            trino_access.write_rules_file(Path(path), {})
            print(f"wrote {path}; publication adds each table's masks before registering it")
        return 0
    if args.action == "start":
        server = trino_server.start(home, port=deployment.trino_port,
                                    lake_root=deployment.lake_root)
        secrets = server.password_file("admin").parent
        print(f"trino running at {server.url} (home {home})\n"
              f"  users admin, analyst, restricted; passwords in {secrets}/<user>.password\n"
              f"  certificate to trust: {server.ca_file}")
    elif args.action == "stop":
        print("stopped" if trino_server.stop(home) else "not running")
    else:
        server = trino_server.status(home)
        print(f"running at {server.url}" if server else "not running")
        return 0 if server else 3
    return 0


QUERY_USER = "analyst"


def _query(args: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.resources.trino import TrinoResource

    # Least privilege: analysts see PII masked; admin only when asked for.
    user = args.user or os.environ.get("CDP_TRINO_USER") or QUERY_USER
    trino = TrinoResource.for_deployment(get_deployment(), user=user)
    df = trino.query_df(args.sql)
    print(df.to_string(index=False, max_rows=args.max_rows))
    return 0


def _collect_serve(args: argparse.Namespace) -> int:
    from cdp_pipelines.events.collector import RollPolicy
    from cdp_pipelines.events.server import serve

    try:
        serve(args.host, args.port, args.workers,
              RollPolicy(max_bytes=args.roll_mb << 20, max_seconds=args.roll_seconds),
              spool=args.spool)
    except ValueError as exc:  # configuration, deployment or a missing write key
        print(f"cannot start the collector: {exc}", file=sys.stderr)
        return 1
    return 0


def _collect_load(args: argparse.Namespace) -> int:
    import logging

    from cdp_pipelines.events.follow import follow

    log_file = _quiet_libraries()
    # The follower's own lines (loads, counts, failures) on the terminal too.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("cdp_pipelines.events.follow").addHandler(handler)
    print(f"library logs: {log_file}", flush=True)
    try:
        stats = follow(args.sources, args.interval, once=not args.follow)
    except ValueError as exc:  # configuration, or no such event source
        print(f"cdp collect load: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {stats.files} file(s), {stats.rows} row(s) in {stats.loads} load(s); "
          f"{stats.failures} failed load(s)")
    return 1 if stats.failures and not stats.loads else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="cdp-pipelines command line")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failure (also accepted after the "
                             "subcommand)")
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
    tenant = demo.add_parser("tenant", help="make the demo's tenant a git repository of its "
                                            "own with a roles file (for sandboxes)")
    tenant.add_argument("--dir", default=".cdp/demo/tenant")
    tenant.add_argument("--user", help="who the roles file names sandbox-admin (default "
                                       "CDP_USER, else your login name)")
    tenant.set_defaults(func=_demo_tenant)

    sub.add_parser("validate", help="validate the tenant configuration").set_defaults(
        func=_validate)

    mat = sub.add_parser("materialize", help="materialize assets (all by default)")
    mat.add_argument("--select", default="*", help="Dagster asset selection, e.g. 'domain/*'")
    mat.set_defaults(func=_materialize)

    stitch = sub.add_parser("stitch", help="run Stitch (the stitch group's assets), in the "
                                           "mode stitch.yaml sets unless asked otherwise")
    modes = stitch.add_mutually_exclusive_group()
    modes.add_argument("--full", action="store_true",
                       help="rebuild every record's scores and clusters this run")
    modes.add_argument("--incremental", action="store_true",
                       help="build on the last run where it can (a changed model or "
                            "settings still mean a full run)")
    stitch.set_defaults(func=_stitch)

    trino = sub.add_parser("trino", help="the embedded local Trino server (init-rules: an "
                                         "external Trino's access rules file)")
    trino.add_argument("action", choices=["start", "stop", "status", "init-rules"])
    trino.set_defaults(func=_trino)

    query = sub.add_parser("query", help="run SQL on Trino")
    query.add_argument("sql")
    query.add_argument("--user", help=f"Trino user (default CDP_TRINO_USER or {QUERY_USER})")
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
    serve.add_argument("--spool", help="with the lake on object storage: the local directory "
                                       "(a persistent disk) where events are journaled until "
                                       "shipped to the lake (default CDP_COLLECT_SPOOL)")
    serve.set_defaults(func=_collect_serve)
    load = collect.add_parser("load", help="load the closed landing files of event sources "
                                           "(--follow: keep loading every few seconds)")
    load.add_argument("sources", nargs="*", help="event sources (default: all)")
    load.add_argument("--follow", action="store_true",
                      help="keep one Spark session and load every --interval seconds until "
                           "stopped; the sources' sensors stand down meanwhile")
    load.add_argument("--interval", type=float, default=5.0)
    load.set_defaults(func=_collect_load)

    from cdp_pipelines.sandbox.cli import register as register_sandbox

    register_sandbox(sub)
    from cdp_pipelines.governance.privacy.cli import register as register_privacy

    register_privacy(sub)
    return parser


def _command(args: argparse.Namespace) -> str:
    """``cdp query``, ``cdp trino start``, ``cdp sandbox create``: what was run."""
    words = ["cdp", args.command]
    for dest in ("demo_command", "sandbox_command", "audit_command", "privacy_command",
                 "action"):
        if isinstance(getattr(args, dest, None), str):
            words.append(getattr(args, dest))
            break
    return " ".join(words)


def _explain(exc: BaseException) -> str:
    """A failure in a line or two. The project's errors already say what failed, where,
    and what to do; a file system error names its path; anything else is unexpected."""
    text = str(exc).strip()
    if type(exc).__module__.startswith("cdp_pipelines."):
        return text or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None:
        return (f"{exc.strerror or exc}: {exc.filename}. Check that the path exists and "
                "is readable.")
    first = text.splitlines()[0][:300] if text else ""
    return f"{type(exc).__name__}: {first}\nRerun with --debug for the traceback."


def main(argv: list[str] | None = None) -> int:
    # Dagster's notes on its own beta and preview APIs are not the user's business.
    warnings.filterwarnings("ignore", message=r".*currently in (beta|preview)",
                            module=r"dagster\.")
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [word for word in argv if word != "--debug"]
    args = build_parser().parse_args(argv)
    if debug:
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{_command(args)}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure ends as a message, not a traceback
        print(f"{_command(args)} failed: {_explain(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
