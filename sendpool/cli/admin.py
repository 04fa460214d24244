"""``sendpool admin``: the people who sign in to the admin pages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from sendpool.cli.common import console, err_console, friendly_errors, open_runtime
from sendpool.errors import InputError
from sendpool.services.access import admins

app = typer.Typer(help="Admin users of the web pages: create, list, unlock, set a password.")

Email = Annotated[str, typer.Argument(help="The admin's email address (their sign-in name).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _read_password(from_stdin: bool) -> str:
    """Twice at a prompt, so a typo does not lock anyone out; once from stdin for scripts."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
        if typer.prompt("Password again", hide_input=True) != password:
            raise InputError("the two passwords differ; nothing was changed")
    admins.check_password(password)
    return password


def _store_password(
    action: Callable[..., admins.AdminInfo], email: str, from_stdin: bool
) -> admins.AdminInfo:
    """Hash before the transaction: argon2 is slow on purpose, a write lock should not wait."""
    password_hash = admins.hash_password(_read_password(from_stdin))
    rt = open_runtime()
    try:
        return rt.db.transaction(
            action, email=email, password_hash=password_hash, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()


@app.command("create")
@friendly_errors
def create(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Create an admin user who can sign in at /admin/login."""
    info = _store_password(admins.create_admin, email, password_stdin)
    err_console.print(f"admin user {info.email} created; sign in at /admin/login")


@app.command("password")
@friendly_errors
def password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; the user's open sessions end and any lock is lifted."""
    info = _store_password(admins.set_password, email, password_stdin)
    err_console.print(f"password of {info.email} changed")


@app.command("unlock")
@friendly_errors
def unlock(email: Email) -> None:
    """Lift a lock from repeated failed sign-ins now, rather than when it runs out."""
    rt = open_runtime()
    try:
        info = rt.db.transaction(
            admins.unlock_admin, email=email, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()
    err_console.print(f"{info.email} is unlocked")


@app.command("list")
@friendly_errors
def list_() -> None:
    """Every admin user, with failed sign-ins and locks."""
    rt = open_runtime()
    try:
        people = rt.db.transaction(admins.list_admins)
    finally:
        rt.close()
    now = datetime.now(UTC)
    table = Table(title=f"{len(people)} admin user(s)")
    for col in ("email", "created", "failed sign-ins", "locked until"):
        table.add_column(col)
    for a in people:
        locked = a.locked_until is not None and a.locked_until > now
        table.add_row(
            a.email,
            f"{a.created_at:%Y-%m-%d %H:%M}",
            str(a.failed_logins),
            f"{a.locked_until:%Y-%m-%d %H:%M} UTC" if locked and a.locked_until else "",
        )
    console.print(table)
