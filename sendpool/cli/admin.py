"""``sendpool admin``: the people who sign in to the admin pages, and their sessions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sendpool.cli.common import console, err_console, friendly_errors, open_store
from sendpool.errors import InputError

if TYPE_CHECKING:
    from sendpool.services.access.admins import AdminInfo

app = typer.Typer(
    help="Admin users of the web pages: create, list, unlock, set a password, end sessions."
)

Email = Annotated[str, typer.Argument(help="The admin's email address (their sign-in name).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _read_password(from_stdin: bool) -> str:
    """Twice at a prompt, so a typo does not lock anyone out; once from stdin for scripts."""
    from sendpool.services.access import admins

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
        if typer.prompt("Password again", hide_input=True) != password:
            raise InputError("the two passwords differ; nothing was changed")
    admins.check_password(password)
    return password


def _store_password(action: Callable[..., AdminInfo], email: str, from_stdin: bool) -> AdminInfo:
    """Hash before the transaction: argon2 is slow on purpose, a write lock should not wait."""
    from sendpool.services.access import admins

    password_hash = admins.hash_password(_read_password(from_stdin))
    rt = open_store()
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
    from sendpool.services.access import admins

    info = _store_password(admins.create_admin, email, password_stdin)
    err_console.print(f"admin user {info.email} created; sign in at /admin/login")


@app.command("set-password")
@friendly_errors
def set_password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; every session of the user's ends at once."""
    from sendpool.services.access import admins

    info = _store_password(admins.set_password, email, password_stdin)
    err_console.print(f"password of {info.email} changed; their sessions have ended")


# The name this command had before `set-password`; kept so scripts keep working.
app.command("password", hidden=True)(set_password)


@app.command("unlock")
@friendly_errors
def unlock(email: Email) -> None:
    """Forget the user's failed sign-ins, so no address has to wait before trying again."""
    from sendpool.services.access import admins

    rt = open_store()
    try:
        info = rt.db.transaction(
            admins.unlock_admin, email=email, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()
    err_console.print(f"{info.email}: failed sign-ins forgotten")


@app.command("list")
@friendly_errors
def list_() -> None:
    """Every admin user, with recent failed sign-ins and open sessions."""
    from sendpool.services.access import admins, sessions

    rt = open_store()
    try:
        limits = sessions.limits_from(rt.settings)
        people = rt.db.transaction(admins.list_admins, now=datetime.now(UTC), limits=limits)
    finally:
        rt.close()
    table = Table(title=f"{len(people)} admin user(s)")
    for col in ("email", "created", "failed sign-ins (24 h)", "open sessions"):
        table.add_column(col)
    for a in people:
        table.add_row(
            a.email, f"{a.created_at:%Y-%m-%d %H:%M}", str(a.failed_logins), str(a.sessions)
        )
    console.print(table)


@app.command("sessions")
@friendly_errors
def sessions_(
    email: Annotated[
        str | None, typer.Argument(help="Only this admin's sessions (default: everyone's).")
    ] = None,
    include_ended: Annotated[
        bool, typer.Option("--all", help="Also sessions ended in the last day.")
    ] = False,
) -> None:
    """Signed-in browsers: who, since when, last seen, from where."""
    from sendpool.services.access import admins, sessions

    rt = open_store()
    try:
        limits = sessions.limits_from(rt.settings)
        rows = rt.db.transaction(
            admins.list_sessions,
            email=email,
            include_ended=include_ended,
            now=datetime.now(UTC),
            limits=limits,
        )
    finally:
        rt.close()
    table = Table(title=f"{len(rows)} session(s)")
    for col in ("email", "signed in", "last seen", "expires", "address", "browser", "state"):
        table.add_column(col)
    for s in rows:
        state = "open" if s.active else "ended"
        if s.revoked_at is not None:
            state = f"signed out {s.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(
            s.email,
            f"{s.created_at:%Y-%m-%d %H:%M}",
            f"{s.last_seen_at:%Y-%m-%d %H:%M}",
            f"{s.expires_at:%Y-%m-%d %H:%M}",
            s.client_address,
            s.user_agent[:60],
            state,
        )
    console.print(table)


@app.command("logout-all")
@friendly_errors
def logout_all(email: Email) -> None:
    """End every session of one admin now (a lost laptop, a shared browser)."""
    from sendpool.services.access import admins

    rt = open_store()
    try:
        info, ended = rt.db.transaction(
            admins.logout_all, email=email, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()
    err_console.print(f"{info.email}: {ended} session(s) ended; they must sign in again")
