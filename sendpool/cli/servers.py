"""``sendpool servers``: see the pool's servers and test them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import Store, console, fail, friendly_errors, open_store
from sendpool.core.outcomes import OutcomeKind
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.errors import InputError

app = typer.Typer(help="List sending servers, check them, send test emails.")

HEALTH_STYLE: dict[str, str] = {
    ServerHealth.HEALTHY: "green",
    ServerHealth.DEGRADED: "red",
    ServerHealth.UNKNOWN: "dim",
}


def _ago(at: datetime | None) -> str:
    if at is None:
        return "never"
    seconds = int((datetime.now(UTC) - at).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{at:%Y-%m-%d %H:%M} UTC"


@app.command("list")
@friendly_errors
def list_() -> None:
    """Every server with its type, status, health, limits and last activity."""
    from sendpool.services.servers.checks import list_servers

    rt = open_store()
    try:
        rows = rt.db.transaction(list_servers, rt.box)
    finally:
        rt.close()
    table = Table(title=f"{len(rows)} sending server(s)")
    for col in ("name", "type", "health", "limits", "last check", "last activity"):
        table.add_column(col, overflow="fold")
    for r in rows:
        health = r.health if r.status == ServerStatus.ACTIVE else r.status
        style = HEALTH_STYLE.get(health, "dim")
        limits = f"{r.sending_limit:,}/day" + (f", {r.hourly_limit:,}/h" if r.hourly_limit else "")
        table.add_row(
            escape(r.name),
            r.type,
            f"[{style}]{health}[/]",
            limits,
            _ago(r.health_checked_at),
            _ago(r.last_activity_at),
        )
    console.print(table)
    for r in rows:
        if r.health_error:
            console.print(
                f"[red]{escape(r.name)}[/] ({r.uid}): {escape(r.health_error)}", highlight=False
            )


@app.command("test")
@friendly_errors
def test(
    server: Annotated[str, typer.Argument(help="The server's uid or name.")],
    send_to: Annotated[
        str | None, typer.Option(help="Also send a test email to this address.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Sender for the test email.")] = None,
) -> None:
    """Check the server's connection (and record the result); optionally send a test email."""
    from sendpool.pipeline.embedded import run_async
    from sendpool.services.servers.checks import (
        check_server,
        find_server,
        record_check,
        send_test_email,
    )

    rt = open_store()
    try:
        row = rt.db.transaction(find_server, server, rt.box)
        if send_to and not from_ and not row.default_from_email:
            raise InputError(
                f"{row.name} has no default sender (default_from_email): "
                "give the test email's sender with --from ADDRESS"
            )
        health = run_async(check_server(row, rt.settings.send_timeout))
        rt.db.transaction(record_check, row.id, health, rt.settings.health_check_interval)
        mark = "[green]ok[/]" if health.ok else "[red]failed[/]"
        console.print(
            f"{escape(row.name)} ({row.type}): connection {mark}: {escape(health.detail)}"
        )
        for key, value in health.facts.items():
            console.print(f"  {key}: {escape(str(value))}")
        _webhook(rt, row.uid)
        if send_to:
            outcome = run_async(send_test_email(row, send_to, from_, rt.settings.send_timeout))
            if outcome.kind is OutcomeKind.ACCEPTED:
                console.print(
                    "test email accepted; message id: "
                    f"{escape(outcome.remote_id or '-')} ({escape(outcome.text)})"
                )
            else:
                raise fail(f"test email not accepted ({outcome.kind.value}): {outcome.describe()}")
        if not health.ok:
            raise typer.Exit(1)
    finally:
        rt.close()


def _webhook(rt: Store, uid: str) -> None:
    """A vendor server's webhook: the URL to paste, what it lacks, and the last event."""
    from sendpool.services.webhooks.info import webhook_info

    info = rt.db.transaction(webhook_info, rt.box, rt.settings.public_url, uid)
    if info is None:
        return
    console.print(f"  webhook: {escape(info.shown_url)}", soft_wrap=True)
    for what in info.missing:
        console.print(f"  [yellow]webhook missing[/] {escape(what)}")
    r = info.receipt
    last = (
        f"{r.last_event_at:%Y-%m-%d %H:%M} UTC: {r.last_event}"
        if r and r.last_event_at
        else "none yet"
    )
    console.print(f"  last webhook event: {escape(last)}")
    console.print(
        f"  (`sendpool webhooks show {escape(info.server)} --reveal` prints the URL to paste)"
    )
