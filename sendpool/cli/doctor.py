"""``sendpool doctor``: the checks an operator runs when something looks wrong."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, friendly_errors
from sendpool.errors import ConfigError

if TYPE_CHECKING:
    from sendpool.services.operations.doctor import DoctorReport

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}
CLASS = {"low_volume": "low-volume", "burst": "burst"}


def _json(report: DoctorReport) -> str:
    def default(o: object) -> str:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(f"{type(o).__name__} is not JSON")

    data = {"ok": report.ok, **dataclasses.asdict(report)}
    return json.dumps(data, default=default, indent=2)


def _render(report: DoctorReport) -> None:
    table = Table(title=f"sendpool doctor, {report.at:%Y-%m-%d %H:%M:%S} UTC")
    table.add_column("check", no_wrap=True)
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        detail = escape(c.detail) + (f"\n[bold]→[/] {escape(c.advice)}" if c.advice else "")
        table.add_row(escape(c.name), f"[{STYLE[c.status]}]{c.status}[/]", detail)
    console.print(table)
    if report.queue is not None and report.queue.waiting_reasons:
        console.print("\n[bold]Why queued messages wait[/]")
        for r in report.queue.waiting_reasons:
            console.print(
                f"  {r.messages:>7,}  {escape(r.reason)}", soft_wrap=True, highlight=False
            )
    if report.dispatch:
        console.print("\n[bold]What the dispatcher would pick right now[/]")
    for p in report.dispatch:
        picks = escape(", ".join(p.candidates)) or "[red]nothing[/]"
        if not p.candidates and not p.skipped:
            picks += ": no sending server is attached to this plan"
        elif not p.candidates and p.retry_at is not None:
            picks += f" until {p.retry_at:%Y-%m-%d %H:%M:%S} UTC"
        console.print(f"  {escape(p.plan)}, {CLASS[p.send_class]}: {picks}", soft_wrap=True)
        for s in p.skipped:
            line = f"    skips {escape(s.server)}: {escape(s.reason)}"
            console.print(line, soft_wrap=True, highlight=False)


@friendly_errors
def doctor(
    check_servers: Annotated[
        bool,
        typer.Option(
            "--check-servers", help="Also check every enabled server's connection, and record it."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Check the database, schema, secret key, Redis, workers, queue, servers and plans.

    Each row says ok, warn or fail and what to do next; the command exits 1 when
    any row fails. Nothing is changed, except with --check-servers, which
    records each connection check as `sendpool servers test` does.
    """
    from sendpool.config import Settings
    from sendpool.pipeline.embedded import run_async
    from sendpool.services.operations.doctor import diagnose

    try:
        settings = Settings()
    except ValueError as exc:
        raise ConfigError(f"settings are not valid: {exc}") from None
    report = run_async(diagnose(settings, now=datetime.now(UTC), check_servers=check_servers))
    if as_json:
        typer.echo(_json(report))
    else:
        _render(report)
    if not report.ok:
        raise typer.Exit(1)
