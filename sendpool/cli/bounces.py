"""``sendpool bounces``: check a report by hand, and read the events the pool has recorded."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, err_console, fail, friendly_errors, open_store
from sendpool.errors import ConfigError

if TYPE_CHECKING:
    from sendpool.core.reports import Report
    from sendpool.services.inbound.inspect import Trace
    from sendpool.services.operations.events import EventRow
    from sendpool.store.database import Database

app = typer.Typer(help="Bounce and complaint reports: classify one by hand, list the events.")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# The kinds the event list takes (services.operations.events.EVENT_KINDS), written out
# so that --help does not load the queries; tests/cli/test_startup_help.py compares them.
EVENT_KINDS = (
    "hard_bounce", "soft_bounce", "reputation", "complaint", "delay", "rejected", "unsubscribe",
)  # fmt: skip
KIND_STYLE = {"hard": "red", "complaint": "red", "reputation": "yellow", "soft": "yellow"}


def _classified(path: Path, report: Report, found: Trace) -> dict[str, Any]:
    return {
        "file": str(path),
        "class": report.kind.value,
        "format": report.format,
        "status": [r.status for r in report.results if r.status],
        "recipients": [
            {
                "recipient": r.recipient,
                "class": r.kind.value,
                "status": r.status,
                "action": r.action,
                "diagnostic": r.diagnostic,
                "remote_mta": r.remote_mta,
            }
            for r in report.results
        ],
        "reported_by": report.reported_by,
        "feedback_type": report.feedback_type,
        "loop": report.loop,
        "truncated": report.truncated,
        "reason": report.reason,
        "token": found.token,
        "message_uid": found.message_uid,
        "message_recipient": found.recipient,
        "server": found.server_name,
        "server_uid": found.server_uid,
        "customer": found.customer_name,
        "note": found.note,
    }


def _read(paths: list[Path]) -> list[tuple[Path, bytes | str]]:
    """Each file's bytes, or why it cannot be read."""
    out: list[tuple[Path, bytes | str]] = []
    for path in paths:
        try:
            out.append((path, path.read_bytes()))
        except OSError as exc:
            out.append((path, f"cannot read {path}: {exc.strerror or exc}"))
    return out


@app.command("classify")
@friendly_errors
def classify_files(
    files: Annotated[list[Path], typer.Argument(help="Report files (.eml: the raw message).")],
    as_json: AsJson = False,
) -> None:
    """Classify each report and name the message and server it is about; changes nothing.

    The return-path token it carries is checked with the secret key (as the
    inbound listener checks it): `verified` names the message, `forged` means no
    token was made with this key. A file that cannot be read is reported and
    the exit code is 1.
    """
    from sendpool.config import Settings
    from sendpool.services.inbound.inspect import inspect_report, inspect_untraced, reading_key
    from sendpool.services.operations.doctor_checks import open_for_reading

    settings = Settings()
    key = reading_key(settings)
    db: Database | None = None
    try:
        db, ledger = open_for_reading(settings)  # never creates nor migrates the database
        ledger.close()
    except ConfigError as exc:
        why = f"not traced: {exc}"
        err_console.print(f"[yellow]warning:[/] {escape(why)}", highlight=False)
    results: list[dict[str, Any]] = []
    try:
        for path, raw in _read(files):
            if isinstance(raw, str):
                results.append({"file": str(path), "error": raw})
                continue
            if db is None:
                report, found = inspect_untraced(raw, why)
            else:
                report, found = db.transaction(inspect_report, raw, key)
            results.append(_classified(path, report, found))
    finally:
        if db is not None:
            db.close()
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        _print_classified(results)
    errors = [r for r in results if "error" in r]
    if errors:
        raise fail(f"{len(errors)} of {len(results)} file(s) could not be read")


def _print_classified(results: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(results)} report(s)")
    for col in ("file", "class", "status", "recipients", "format", "message", "server", "why"):
        table.add_column(col, overflow="fold")
    for r in results:
        if "error" in r:
            err_console.print(f"[bold red]error:[/] {escape(r['error'])}", highlight=False)
            table.add_row(escape(r["file"]), "[red]unreadable[/]", "", "", "", "", "", "")
            continue
        style = KIND_STYLE.get(r["class"], "")
        message = r["message_uid"] or f"({r['token']})"
        if r["token"] != "verified" or r["message_uid"] is None:
            message += f": {r['note']}"
        table.add_row(
            escape(r["file"]),
            f"[{style}]{r['class']}[/]" if style else r["class"],
            ", ".join(dict.fromkeys(r["status"])) or "-",
            escape(", ".join(x["recipient"] or "?" for x in r["recipients"]) or "-"),
            r["format"],
            escape(message),
            escape(r["server"] or "-"),
            escape(r["reason"]),
        )
    console.print(table)


def _row(e: EventRow) -> dict[str, Any]:
    out = asdict(e)
    for key in ("at", "sent_at"):
        out[key] = out[key].isoformat() if out[key] is not None else None
    return out


@app.command("list")
@friendly_errors
def list_(
    server: Annotated[str | None, typer.Option(help="Server name or uid.")] = None,
    kind: Annotated[str | None, typer.Option(help=" | ".join(EVENT_KINDS))] = None,
    since: Annotated[
        str | None, typer.Option(help="24h, 7d, 30m, or an ISO time (UTC if no zone).")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Customer name or uid.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Bounces, complaints, delays and refusals the pool recorded, newest first."""
    from sendpool.services.operations.events import list_events, parse_since

    now = datetime.now(UTC)
    rt = open_store()
    try:
        start = parse_since(since, now) if since is not None else None
        rows = rt.db.transaction(
            list_events, server=server, kind=kind, since=start, customer=customer, limit=limit
        )
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps([_row(e) for e in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} event(s), newest first")
    for col in ("time (UTC)", "kind", "code", "recipient", "server", "reported by", "message"):
        table.add_column(col, overflow="fold")
    for e in rows:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.kind,
            e.status_code or "-",
            escape(e.recipient or "-"),
            escape(e.server_name or "-"),
            escape(e.reported_by or e.source or "-"),
            e.message_uid or "-",
        )
    console.print(table)
