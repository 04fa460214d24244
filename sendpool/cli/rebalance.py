"""``sendpool rebalance``: apply the daily rebalancing policy now, or only show it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, friendly_errors, open_store

STYLE = {"raise": "green", "cut": "red", "keep": "dim"}


@friendly_errors
def rebalance(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
) -> None:
    """Move each active server's sending_limit by its last-24-hour bounce rate, with care.

    Under SENDPOOL_REBALANCE_RAISE_BELOW (1 %) the limit grows by
    SENDPOOL_REBALANCE_RAISE_BY (10 %); over SENDPOOL_REBALANCE_CUT_ABOVE (3 %)
    it shrinks by SENDPOOL_REBALANCE_CUT_BY (25 %). Nothing moves before a full
    day of sends is on record or under SENDPOOL_REBALANCE_MIN_SENT (500) sends;
    a raise needs SENDPOOL_REBALANCE_RAISE_WHEN_USED (80 %) of the day's cap
    used, and stops at the server's rebalance_ceiling and at the vendor's own
    limit (SES Max24HourSend); warming servers are left to their warm-up.
    Every verdict, kept limits too, goes to the audit log
    (GET /api/v1/admin/audit-log). SENDPOOL_REBALANCE_ENABLED=false turns the
    daily job inside `serve` off, for those who run their own script.
    """
    from sendpool.services.operations.rebalance import policy_from
    from sendpool.services.operations.rebalance import rebalance as run_rebalance

    rt = open_store()
    try:
        run = rt.db.transaction(
            run_rebalance,
            policy=policy_from(rt.settings),
            now=datetime.now(UTC),
            dry_run=dry_run,
            actor="cli",
        )
    finally:
        rt.close()
    title = "dry run: nothing written" if dry_run else f"{len(run.changed)} server(s) changed"
    table = Table(title=title)
    for col in ("server", "sent 24h", "of day cap", "bounces", "rate", "limit", "why"):
        table.add_column(col, overflow="fold")
    for d in run.decisions:
        style = STYLE[d.decision.action.value]
        limit = f"{d.decision.old_limit:,}"
        if d.decision.new_limit != d.decision.old_limit:
            limit += f" -> [{style}]{d.decision.new_limit:,}[/]"
        cap = d.standing.day_cap if d.standing else 0
        table.add_row(
            escape(d.name),
            f"{d.activity.sent:,}",
            f"{d.activity.sent / cap:.0%} of {cap:,}" if cap else "-",
            f"{d.activity.bounces:,}",
            f"{d.activity.bounce_rate:.2%}",
            limit,
            escape(d.decision.reason),
        )
    console.print(table)
