"""Who may do what: roles read from a YAML file, the acting user from ``CDP_USER``.

The roles file (``$CDP_ROLES_FILE``, default ``<production tenant>/roles.yaml``)::

    users:
      alice: [sandbox-admin]
      bob: [administrator]
      olga: [operator]
      ana: [analyst]

Roles:
- ``operator``: run and watch (start a sandbox's Dagster UI, list, diff, read the audit log);
- ``administrator``: change configuration in a sandbox (create, pull, delete their own
  sandbox), plus what an operator may do;
- ``sandbox-admin``: promote a sandbox into production and delete any sandbox, plus what
  an administrator may do;
- ``analyst``: query the published tables only.

Without a roles file every user is an administrator and nobody is a sandbox-admin, so
nothing can be promoted until a roles file names one. A user missing from an existing
file has no role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

OPERATOR = "operator"
ADMINISTRATOR = "administrator"
SANDBOX_ADMIN = "sandbox-admin"
ANALYST = "analyst"
ROLES = (OPERATOR, ADMINISTRATOR, SANDBOX_ADMIN, ANALYST)

# Permission -> the roles that grant it, least powerful first (named in refusals).
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "query": (ANALYST, OPERATOR, ADMINISTRATOR, SANDBOX_ADMIN),
    "watch": (OPERATOR, ADMINISTRATOR, SANDBOX_ADMIN),
    "run": (OPERATOR, ADMINISTRATOR, SANDBOX_ADMIN),
    "change-config": (ADMINISTRATOR, SANDBOX_ADMIN),
    "promote": (SANDBOX_ADMIN,),
    "delete-any-sandbox": (SANDBOX_ADMIN,),
}
DEFAULT_ROLES = frozenset({ADMINISTRATOR})


class RolesError(ValueError):
    """The roles file or the acting user is wrong."""


class AccessDenied(PermissionError):
    """The acting user lacks the role an action needs; the message names that role."""


@dataclass(frozen=True)
class Roles:
    """Users and their roles, from ``source`` (``None``: no file, everyone administrator)."""

    users: dict[str, frozenset[str]] = field(default_factory=dict)
    source: Path | None = None

    def roles_of(self, user: str) -> frozenset[str]:
        if self.source is None:
            return DEFAULT_ROLES
        return self.users.get(user, frozenset())

    def allows(self, user: str, permission: str) -> bool:
        return bool(self.roles_of(user) & set(_granting(permission)))

    def require(self, user: str, permission: str, action: str) -> None:
        """Raise :class:`AccessDenied` unless ``user`` may use ``permission``."""
        if self.allows(user, permission):
            return
        needed = _granting(permission)
        held = ", ".join(sorted(self.roles_of(user))) or "none"
        needs = (f"role {needed[0]}" if len(needed) == 1
                 else "one of the roles " + ", ".join(needed))
        where = (f"roles file {self.source}" if self.source is not None else
                 "no roles file (everyone is administrator until one exists)")
        raise AccessDenied(f"{action}: refused for user {user!r} (roles: {held}); it needs "
                           f"{needs}. Roles come from {where}.")


def _granting(permission: str) -> tuple[str, ...]:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}; known: {sorted(PERMISSIONS)}")
    return PERMISSIONS[permission]


def load_roles(path: str | Path) -> Roles:
    """Read the roles file at ``path``; a missing file gives everyone administrator."""
    path = Path(path)
    if not path.is_file():
        return Roles(source=None)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RolesError(f"{path}: not valid YAML: {exc}") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise RolesError(f"{path}: users: expected a mapping of user name to a list of roles")
    out: dict[str, frozenset[str]] = {}
    for user, roles in users.items():
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list):
            raise RolesError(f"{path}: users.{user}: expected a list of roles, got {roles!r}")
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise RolesError(f"{path}: users.{user}: unknown role(s) {unknown}; "
                             f"roles are {list(ROLES)}")
        out[str(user)] = frozenset(roles)
    return Roles(users=out, source=path)


def current_user(env: dict[str, str]) -> str:
    """The acting user: ``CDP_USER`` from ``env``."""
    user = (env.get("CDP_USER") or "").strip()
    if not user:
        raise RolesError("CDP_USER is not set: set it to your user name (the roles file and "
                         "the audit log identify you by it)")
    return user
