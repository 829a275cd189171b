"""``cdp privacy request``: submit a privacy request straight into the requests table
(the same checks as the feed; a malformed request is refused with its reason and kept in
the rejected table). ``privacy/unified_compliance`` applies it on its next run."""

from __future__ import annotations

import argparse
import sys
from datetime import date


def _request(args: argparse.Namespace) -> int:
    from cdp_pipelines.deployment import get_deployment
    from cdp_pipelines.governance.privacy.assets import audit
    from cdp_pipelines.governance.privacy.requests import store_requests
    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.resources.spark import SparkResource
    from cdp_pipelines.tenant import load_tenant

    deployment = get_deployment()
    config = load_tenant(deployment.tenant_dir)
    record = {"request_id": args.id, "type": args.type, "strategy": args.strategy,
              "received": args.received or date.today().isoformat()}
    for pair in args.identifier or []:
        name, _, value = pair.partition("=")
        record[name.strip()] = value
    lake = DeltaLake.for_deployment(SparkResource.for_deployment(deployment), deployment,
                                    config.pii_fields)
    accepted, rejected = store_requests(lake, [("cli", record)], config.privacy)
    if rejected:
        audit(deployment, "privacy.request.rejected", "refused", f"cli: {rejected[0][1]}")
        print(f"privacy request {args.id} refused: {rejected[0][1]}", file=sys.stderr)
        return 1
    if not accepted:
        print(f"privacy request {args.id} was already submitted; nothing changed")
        return 0
    audit(deployment, f"privacy.{args.type}.received", "ok",
          f"request {args.id} ({args.strategy}) from cli")
    print(f"privacy request {args.id} ({args.type}, {args.strategy}) received; materialize "
          "privacy/unified_compliance (or the next scheduled run) applies it")
    return 0


def register(sub) -> None:
    privacy = sub.add_parser("privacy", help="privacy requests (access, deletion)") \
        .add_subparsers(dest="privacy_command", required=True)
    request = privacy.add_parser("request", help="submit a dsar, delete or delete_pii request")
    request.add_argument("--id", required=True, help="the request's id (unique)")
    request.add_argument("--type", required=True, help="dsar | delete | delete_pii")
    request.add_argument("--strategy", default="exact", help="exact | connected")
    request.add_argument("--received", help="date received (YYYY-MM-DD; default today)")
    request.add_argument("--identifier", action="append", metavar="NAME=VALUE",
                         help="email=..., phone=..., address=... with postal=..., or a "
                              "configured key; repeat for several")
    request.set_defaults(func=_request)
