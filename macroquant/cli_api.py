"""CLI commands of the API area: ``macroquant api serve`` and ``macroquant users ...``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import IO

from macroquant.cli_args import wall_clock
from macroquant.config.settings import Settings

ROLES = ("viewer", "trader", "admin")



def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def read_new_password(username: str, from_stdin: bool, stdin: IO[str] | None = None,
                      prompt: Callable[[str], str] = getpass.getpass) -> str:
    """A new password from standard input (one line) or a hidden prompt entered twice;
    never from the command line."""
    if from_stdin:
        return (stdin or sys.stdin).readline().rstrip("\r\n")
    password = prompt(f"password for {username} (input hidden): ")
    if prompt(f"repeat the password for {username}: ") != password:
        from macroquant.auth.errors import UserError

        raise UserError("the two passwords differ; nothing was changed")
    return password


def users_command(settings: Settings, args: argparse.Namespace,
                  stdin: IO[str] | None = None,
                  prompt: Callable[[str], str] = getpass.getpass) -> tuple[int, str]:
    """``macroquant users add|list|set-role|disable|enable|passwd``: (exit code, output)."""
    from macroquant.auth import users
    from macroquant.db.connection import database_url, transaction

    url = database_url(settings)
    fields = {"actor": _actor(), "at": wall_clock(), "client": "cli"}
    action = args.users_command
    if action == "list":
        with transaction(url) as conn:
            rows = users.list_users(conn)
        if not rows:
            return 0, "no users; add one with: macroquant users add NAME --role admin"
        width = max(8, *(len(u.username) for u in rows))
        lines = [f"{'USERNAME':<{width}}  {'ROLE':<7}  STATUS"]
        lines += [f"{u.username:<{width}}  {u.role.value:<7}  "
                  f"{'disabled' if u.disabled else 'enabled'}" for u in rows]
        return 0, "\n".join(lines)
    if action in ("add", "passwd"):
        users.validate_username(args.username)
        password = read_new_password(args.username, args.stdin, stdin, prompt)
        with transaction(url) as conn:
            if action == "add":
                user = users.create_user(conn, args.username, password, args.role, **fields)
                return 0, f"user {user.username} added with role {user.role.value}"
            users.set_password(conn, args.username, password, **fields)
        return 0, f"password of {args.username} changed; their sessions were revoked"
    with transaction(url) as conn:
        if action == "set-role":
            user = users.set_role(conn, args.username, args.role, **fields)
            return 0, f"user {user.username} now has role {user.role.value}"
        user = users.set_disabled(conn, args.username, action == "disable", **fields)
    state = "disabled (sessions revoked)" if user.disabled else "enabled"
    return 0, f"user {user.username} {state}"


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    code, text = users_command(settings, args)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from macroquant.api.app import create_app
    from macroquant.logging_setup import configure_file_logging

    path = configure_file_logging(settings)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: put TLS in front (a reverse proxy); tokens "
              "and passwords travel in every request", file=sys.stderr)
    print(f"MacroQuant API on http://{args.host}:{args.port} (docs at /docs); logs in {path}")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None,
                workers=1, proxy_headers=args.proxy_headers)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the top-level parser."""
    api = sub.add_parser("api", help="the HTTP API (FastAPI)")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    serve = api_sub.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (local only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--proxy-headers", action="store_true",
                       help="trust X-Forwarded-For from a reverse proxy (the client address "
                            "the login rate limit and the audit log use)")
    api.set_defaults(handler=cmd_api)

    users = sub.add_parser("users", help="users and roles (viewer, trader, admin)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a user (password prompted, or --stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--stdin", action="store_true", help="read the password from stdin")
    users_sub.add_parser("list", help="users with role and status (never passwords)")
    set_role = users_sub.add_parser("set-role", help="change a user's role")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=ROLES)
    for name, text in (("disable", "disable a user and revoke their sessions"),
                       ("enable", "enable a disabled user")):
        users_sub.add_parser(name, help=text).add_argument("username")
    passwd = users_sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--stdin", action="store_true", help="read the password from stdin")
    users.set_defaults(handler=cmd_users)
