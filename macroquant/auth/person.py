"""Who may re-arm trading from the command line: resuming the kill switch and unlocking an
instrument are a person's decisions.

Once MacroQuant has users, ``--by`` must name an enabled user with the admin role, who
proves it with their password (a hidden prompt, or one line on standard input for
scripts); a wrong name, role or password is refused and audited. Without any user (a
single-person install) the name is free text, as before. Either way the ``audit_log`` row
records the name given and the operating-system user who ran the command.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime

from macroquant.auth import audit
from macroquant.auth.errors import AuthenticationError
from macroquant.auth.passwords import verify_password
from macroquant.auth.roles import Role
from macroquant.auth.users import is_valid_username, password_hash_of
from macroquant.db.connection import transaction


def os_user() -> str:
    """The operating-system user running this process (audit only)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no passwd entry, no LOGNAME (containers)
        return "unknown"


def confirm_admin(url: str, name: str, action: str, target: str, *, at: datetime,
                  read_password: Callable[[str], str]) -> str:
    """Check that ``name`` may perform ``action`` on ``target`` (see the module docstring)
    and record the attempt in ``audit_log`` (committed, refusals included); return the name
    to record. Raises :class:`AuthenticationError` (one line, no secret) when refused."""
    client = f"cli:{os_user()}"
    with transaction(url) as conn:
        has_users = conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0]
        found = password_hash_of(conn, name) if has_users and is_valid_username(name) else None
    reason, role = "", None
    if has_users:
        if found is None:
            reason = f"'{name}' is not a MacroQuant user"
        elif found[0].disabled:
            reason = f"user '{name}' is disabled"
        elif found[0].role is not Role.ADMIN:
            reason = f"user '{name}' has the role {found[0].role.value}; this needs an admin"
        elif not verify_password(found[1],
                                 read_password(f"password for {name} (input hidden): ")):
            reason = f"wrong password for '{name}'"
        else:
            role = Role.ADMIN.value
    details = {"os_user": os_user(), **({"reason": reason} if reason else {}),
               **({} if has_users else {"users": "none yet"})}
    with transaction(url) as conn:
        audit.record(conn, at=at, actor=name, action=action, target=target,
                     outcome="denied" if reason else "success", role=role, client=client,
                     details=details)
    if reason:
        raise AuthenticationError(f"{action} refused: {reason} (users exist, so --by must "
                                  "name an admin, who confirms with their password)")
    return name
