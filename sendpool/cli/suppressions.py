"""``sendpool suppressions``: the addresses a customer's mail never goes to; list, add, lift, CSV."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, fail, friendly_errors, open_store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from sendpool.services.messages.suppressions import SuppressionInfo

app = typer.Typer(help="A customer's suppressed addresses: list, add, remove, import, export.")
# The kinds of services.messages.suppressions.KINDS, written out so that --help does not
# load the service; tests/cli/test_startup_help.py compares them.
KINDS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe", "manual", "imported", "vendor")

T = TypeVar("T")
CustomerOpt = Annotated[str, typer.Option("--customer", help="The customer's name or uid.")]
Email = Annotated[str, typer.Argument(help="The address, e.g. someone@example.com.")]
ACTOR = "cli"


def _for_customer(customer: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(conn, customer_id, ...)`` in one transaction, the customer named by name or uid."""
    from sendpool.services import refs

    def run(conn: Connection) -> T:
        return fn(conn, refs.customer_id(conn, customer), *args, **kwargs)

    rt = open_store()
    try:
        return rt.db.transaction(run)
    finally:
        rt.close()


def _info(s: SuppressionInfo) -> dict[str, Any]:
    return {
        "email": s.email,
        "kind": s.kind,
        "reason": s.reason,
        "server": s.server,
        "created_at": s.created_at.isoformat(),
    }


@app.command("list")
@friendly_errors
def list_(
    customer: CustomerOpt,
    kind: Annotated[str | None, typer.Option(help=" | ".join(KINDS))] = None,
    search: Annotated[str | None, typer.Option(help="Part of the address.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The customer's suppressions, newest first, with their kind and reason."""
    from sendpool.services.messages import suppressions as service

    rows = _for_customer(customer, service.list_suppressions, kind=kind, search=search, limit=limit)
    if as_json:
        typer.echo(json.dumps([_info(s) for s in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} suppression(s) of {escape(customer)}")
    for col in ("email", "kind", "reason", "server", "since (UTC)"):
        table.add_column(col, overflow="fold")
    for s in rows:
        table.add_row(
            escape(s.email),
            s.kind or "-",
            escape(s.reason),
            escape(s.server or "-"),
            f"{s.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("add")
@friendly_errors
def add(
    email: Email,
    customer: CustomerOpt,
    reason: Annotated[str | None, typer.Option(help="Why; shown beside the address.")] = None,
) -> None:
    """Never send the customer's mail to EMAIL; adding it again changes nothing."""
    from sendpool.services.messages import suppressions as service

    info, created = _for_customer(
        customer, service.add_suppression, email=email, reason=reason, actor=ACTOR,
        now=datetime.now(UTC),
    )  # fmt: skip
    said = "suppressed" if created else f"already suppressed ({info.kind or 'no kind'})"
    console.print(f"{escape(info.email)}: {said}: {escape(info.reason)}", highlight=False)


@app.command("remove")
@friendly_errors
def remove(email: Email, customer: CustomerOpt) -> None:
    """Lift the suppression of EMAIL: the customer's mail goes to it again."""
    from sendpool.services.messages import suppressions as service

    info = _for_customer(
        customer, service.remove_suppression, email, actor=ACTOR, now=datetime.now(UTC)
    )
    console.print(f"{escape(info.email)}: no longer suppressed (was {escape(info.reason)})")


@app.command("import")
@friendly_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with a header line: email,reason.")],
    customer: CustomerOpt,
) -> None:
    """Suppress every address of FILE; bad rows are skipped and listed by line."""
    from sendpool.services.messages import suppressions as service

    try:
        stream = file.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}", 2) from None
    with stream:
        report = _for_customer(
            customer, service.import_suppressions, stream=stream, actor=ACTOR,
            now=datetime.now(UTC),
        )  # fmt: skip
    for e in report.errors:
        console.print(f"  skipped {escape(str(e))}", highlight=False)
    console.print(
        f"{report.rows:,} row(s): {report.added:,} suppressed, {report.existing:,} already were, "
        f"{len(report.errors):,} skipped",
        highlight=False,
    )


@app.command("export")
@friendly_errors
def export(
    customer: CustomerOpt,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Every suppression of the customer as CSV (email,reason), by address."""
    from sendpool.services.messages import suppressions as service

    text = _for_customer(customer, service.export_suppressions)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}", 2) from None
    console.print(f"wrote {text.count(chr(10)) - 1:,} suppression(s) to {escape(str(output))}")
