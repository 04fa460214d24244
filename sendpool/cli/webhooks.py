"""``sendpool webhooks``: the URL to paste into a vendor's console, and what arrived there."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, fail, friendly_errors, open_store

if TYPE_CHECKING:
    from sendpool.services.webhooks.info import WebhookInfo

app = typer.Typer(help="Vendor event webhooks: each server's URL, its last events, unmatched ones.")

Server = Annotated[str, typer.Argument(help="The vendor server's name or uid.")]


def _info(server: str) -> WebhookInfo:
    from sendpool.services.webhooks.info import webhook_info

    rt = open_store()
    try:
        found = rt.db.transaction(webhook_info, rt.box, rt.settings.public_url, server)
    finally:
        rt.close()
    if found is None:
        raise fail(
            f"{server} is not a vendor server: an SMTP relay reports bounces by mail (see README)"
        )
    return found


def _as_json(info: WebhookInfo, reveal: bool) -> dict[str, Any]:
    r = info.receipt
    return {
        "server": info.server,
        "vendor": info.vendor,
        "url": info.url if reveal else info.shown_url,
        "where": info.where,
        "missing": list(info.missing),
        "accepted": r.accepted if r else 0,
        "last_event_at": r.last_event_at.isoformat() if r and r.last_event_at else None,
        "last_event": r.last_event if r else None,
        "unmatched": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in u.items()}
            for u in info.unmatched
        ],
    }


@app.command("show")
@friendly_errors
def show(
    server: Server,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the URL with its password, to paste it.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The webhook URL, what the server still lacks, the last event and the last refusal."""
    info = _info(server)
    if as_json:
        typer.echo(json.dumps(_as_json(info, reveal), indent=2))
        return
    out = console.print
    out(f"[bold]{escape(info.server)}[/] ({info.vendor}) webhook URL:")
    out(escape(info.url if reveal else info.shown_url), soft_wrap=True)
    if not reveal and info.url != info.shown_url:
        out("[dim]the password is hidden: add --reveal to print it for the vendor's console[/]")
    out(f"where: {escape(info.where)}")
    for what in info.missing:
        out(
            f"[yellow]missing[/] {escape(what)}: set it in the pool file, the API or the server's page"
        )
    r = info.receipt
    if r is None:
        out("nothing received yet")
    else:
        if r.last_event_at:
            out(f"last event {r.last_event_at:%Y-%m-%d %H:%M:%S} UTC: {escape(r.last_event or '')}")
        out(f"{r.accepted} event(s) accepted")
    out(
        "[dim]requests refused (forged, stale, a wrong key) change nothing: `serve` logs them, "
        "counts them in /metrics (sendpool_webhook_requests) and shows the last on the "
        "server's page[/]"
    )
    if info.unmatched:
        table = Table(title=f"{len(info.unmatched)} latest unmatched event(s)")
        for col in ("received (UTC)", "kind", "recipient", "our id", "vendor id", "detail"):
            table.add_column(col, overflow="fold")
        for u in info.unmatched:
            table.add_row(
                f"{u['received_at']:%Y-%m-%d %H:%M}",
                escape(str(u["kind"])),
                escape(u["recipient"] or "-"),
                escape(u["our_id"] or "-"),
                escape(u["vendor_message_id"] or "-"),
                escape(u["detail"] or ""),
            )
        console.print(table)
