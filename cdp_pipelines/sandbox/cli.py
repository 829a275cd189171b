"""``cdp sandbox ...`` and ``cdp audit ...`` subcommands.

    cdp sandbox create NAME               branch production's tenant config, set up a deployment
    cdp sandbox list                      sandboxes, their ports and how far from production
    cdp sandbox ui NAME                   start the sandbox's Dagster UI (dagster dev)
    cdp sandbox pull NAME                 merge production's config changes into the sandbox
    cdp sandbox diff NAME [--no-data]     config diff and data diff against production
    cdp sandbox promote NAME -m MSG [--delete]
    cdp sandbox delete NAME               remove its deployment and its branches/NAME data
    cdp audit show [--sandbox N] [--action A] [--csv FILE]

The acting user is ``CDP_USER``; roles come from ``$CDP_ROLES_FILE`` (default
``<tenant>/roles.yaml``; without one everyone is administrator and nobody may promote).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Callable

from cdp_pipelines.deployment import DeploymentError


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _handled(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the expected failures into a message on stderr and exit status 1."""
    def run(args: argparse.Namespace) -> int:
        from cdp_pipelines.governance.audit import AuditError
        from cdp_pipelines.governance.roles import AccessDenied, RolesError
        from cdp_pipelines.sandbox.gitrepo import GitError, MergeConflict
        from cdp_pipelines.sandbox.lifecycle import SandboxError

        try:
            return fn(args)
        except MergeConflict as exc:
            _err(f"conflict: {exc}")
            for name in exc.files:
                _err(f"  {name}")
            _err("Nothing was merged. Resolve by hand with `git -C <sandbox>/tenant merge "
                 "<production branch>`, commit, then run pull again.")
            return 1
        except AccessDenied as exc:
            _err(f"refused: {exc}")
            return 1
        except (SandboxError, GitError, RolesError, AuditError, DeploymentError) as exc:
            _err(f"error: {exc}")
            return 1
    return run


def _sandboxes():
    from cdp_pipelines.sandbox.lifecycle import Sandboxes

    return Sandboxes(log=_err)


@_handled
def _create(args: argparse.Namespace) -> int:
    state = _sandboxes().create(args.name)
    print(f"sandbox {state.name}: config {state.worktree} (branch {state.branch} of "
          f"{state.base_branch} @ {state.base_commit[:12]})")
    print(f"  deployment: DAGSTER_HOME={state.dagster_home}, port {state.port}, writes under "
          f"{state.deployment.root}; schedules and sensors off")
    print(f"  start its UI: cdp sandbox ui {state.name}")
    return 0


@_handled
def _list(args: argparse.Namespace) -> int:
    statuses = _sandboxes().list()
    if args.json:
        print(json.dumps([{**asdict(s.state), "ahead": s.ahead, "behind": s.behind,
                           "uncommitted": s.uncommitted} for s in statuses], indent=2))
        return 0
    if not statuses:
        print("no sandboxes")
    for s in statuses:
        extra = f", {len(s.uncommitted)} uncommitted file(s)" if s.uncommitted else ""
        print(f"{s.state.name}\towner {s.state.owner}\tport {s.state.port}\t"
              f"{s.ahead} ahead, {s.behind} behind {s.state.base_branch}{extra}")
    return 0


@_handled
def _ui(args: argparse.Namespace) -> int:
    argv, env = _sandboxes().ui_command(args.name)
    print(f"starting: {' '.join(argv)}", flush=True)
    os.execvpe(argv[0], argv, env)
    return 0


@_handled
def _pull(args: argparse.Namespace) -> int:
    state = _sandboxes().pull(args.name)
    print(f"sandbox {state.name} is up to date with {state.base_branch} "
          f"@ {state.base_commit[:12]}")
    return 0


@_handled
def _diff(args: argparse.Namespace) -> int:
    from cdp_pipelines.sandbox.datadiff import render

    diff = _sandboxes().diff(args.name, data=not args.no_data)
    print(f"== configuration: production -> sandbox {diff.name}")
    if diff.production_changed:
        print("(production changed since the last pull: pull before promoting)")
    print(diff.config_diff.rstrip() or "no configuration change")
    if diff.data is not None:
        print(f"== data: production -> sandbox {diff.name}")
        print(render(diff.data))
    return 0


@_handled
def _promote(args: argparse.Namespace) -> int:
    promotion = _sandboxes().promote(args.name, args.message, delete=args.delete)
    print(f"promoted sandbox {promotion.name} into production as commit "
          f"{promotion.commit[:12]}")
    print(promotion.files)
    if promotion.deleted:
        print(f"sandbox {promotion.name} deleted")
    return 0


@_handled
def _delete(args: argparse.Namespace) -> int:
    removed = _sandboxes().delete(args.name)
    print(f"sandbox {args.name} deleted (deployment, branch and {removed})")
    return 0


@_handled
def _audit_show(args: argparse.Namespace) -> int:
    from cdp_pipelines.governance.audit import AuditLog
    from cdp_pipelines.governance.roles import current_user, load_roles
    from cdp_pipelines.sandbox.lifecycle import SandboxSettings

    settings = SandboxSettings.from_env()
    load_roles(settings.roles_file).require(current_user(settings.env), "watch", "audit show")
    log = AuditLog(settings.audit_file)
    events = [e for e in log.events()
              if (args.sandbox is None or e.sandbox == args.sandbox)
              and (args.action is None or e.action == args.action)]
    if args.csv:
        count = log.export_csv(args.csv, events)
        print(f"wrote {count} audit event(s) to {args.csv}")
        return 0
    for e in events:
        detail = e.detail.splitlines()[0] if e.detail else ""
        print(f"{e.time}\t{e.user}\t{e.action}\t{e.sandbox or '-'}\t{e.outcome}\t"
              f"{(e.commit or '-')[:12]}\t{detail}")
    if not events:
        print(f"no audit events in {log.path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sandbox`` and ``audit`` to the ``cdp`` command's subparsers."""
    sandbox = subparsers.add_parser(
        "sandbox", help="sandboxes: branches of the tenant config run as their own deployment")
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True)

    def named(command: str, help_: str, func) -> argparse.ArgumentParser:
        parser = sub.add_parser(command, help=help_)
        parser.add_argument("name", help="sandbox name (lower-case letters, digits, - and _)")
        parser.set_defaults(func=func)
        return parser

    named("create", "copy production's config into a new sandbox deployment", _create)
    sub.add_parser("list", help="list sandboxes").set_defaults(func=_list)
    sub.choices["list"].add_argument("--json", action="store_true", help="print JSON")
    named("ui", "start the sandbox's Dagster UI on its own port", _ui)
    named("pull", "bring production's configuration changes into the sandbox", _pull)
    diff = named("diff", "configuration and data differences against production", _diff)
    diff.add_argument("--no-data", action="store_true", help="configuration diff only")
    promote = named("promote", "merge the sandbox's configuration into production", _promote)
    promote.add_argument("-m", "--message", required=True, help="what the change is")
    promote.add_argument("--delete", action="store_true", help="delete the sandbox afterwards")
    named("delete", "remove the sandbox, its deployment and its data", _delete)

    audit = subparsers.add_parser("audit", help="the audit log of sandbox actions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    show = audit_sub.add_parser("show", help="print (or export) audit events")
    show.add_argument("--sandbox", help="only this sandbox's events")
    show.add_argument("--action", help="only this action (create, pull, promote, ...)")
    show.add_argument("--csv", metavar="FILE", help="write the events to FILE as CSV")
    show.set_defaults(func=_audit_show)
