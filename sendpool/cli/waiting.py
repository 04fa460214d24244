"""``sendpool send-waiting-now``: mail waiting for a window looks for a server again, at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from sendpool.cli.common import console, friendly_errors, open_store


@friendly_errors
def send_waiting_now(
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="The campaign's uid.", show_default=False)
    ] = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="The plan's name or uid.", show_default=False)
    ] = None,
) -> None:
    """Make the waiting messages of a campaign, or of every campaign and customer of a plan, due now.

    Adding room (attaching or enabling a server, raising a cap, a server passing
    its health check, resuming a campaign) already does this by itself; this is
    for when you want them looked at again anyway. Messages that still find no
    room wait again, with the reason as it is now.
    """
    from sendpool.services.messages.waiting import send_waiting_now_for

    rt = open_store()
    try:
        woken = rt.db.transaction(
            send_waiting_now_for, campaign=campaign, plan=plan, now=datetime.now(UTC)
        )
    finally:
        rt.close()
    console.print(f"{woken:,} waiting message(s) made due now")
