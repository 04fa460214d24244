"""``sendpool token``: make, list and revoke API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, err_console, friendly_errors, open_store
from sendpool.errors import InputError

app = typer.Typer(help="API tokens: create (shown once), list, revoke.")


@app.command("create")
@friendly_errors
def create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'ops laptop'.")],
    admin: Annotated[bool, typer.Option("--admin", help="An admin token (/api/v1/admin).")] = False,
    customer: Annotated[
        str | None, typer.Option(help="A token for this customer (uid or name) only.")
    ] = None,
) -> None:
    """Print a new token once; sendpool keeps only its hash."""
    from sendpool.services.access.tokens import create_token

    if admin == (customer is not None):
        raise InputError("give exactly one of --admin or --customer UID")
    rt = open_store()
    try:
        issued = rt.db.transaction(
            create_token, name=name, customer=customer, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()
    who = "admin" if admin else f"customer {escape(issued.info.customer_name or '')}"
    err_console.print(f"token {issued.info.uid} for {who}; it is shown only now:")
    typer.echo(issued.token)


@app.command("list")
@friendly_errors
def list_() -> None:
    """Every token: who it is for, when it was last used, whether it is revoked."""
    from sendpool.services.access.tokens import list_tokens

    rt = open_store()
    try:
        tokens = rt.db.transaction(list_tokens)
    finally:
        rt.close()
    table = Table(title=f"{len(tokens)} token(s)")
    for col in ("uid", "name", "for", "created", "last used", "revoked"):
        table.add_column(col)
    for t in tokens:
        table.add_row(
            t.uid,
            escape(t.name),
            "admin" if t.kind == "admin" else f"customer {escape(t.customer_name or '')}",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
@friendly_errors
def revoke(
    uid: Annotated[str, typer.Argument(help="The token's uid (from `token list`).")],
) -> None:
    """Revoke a token at once; requests with it get 401 from now on."""
    from sendpool.services.access.tokens import revoke_token

    rt = open_store()
    try:
        info = rt.db.transaction(revoke_token, uid, actor="cli", now=datetime.now(UTC))
    finally:
        rt.close()
    console.print(f"token {info.uid} ({escape(info.name)}) is revoked")
