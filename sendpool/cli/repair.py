"""``sendpool repair``: one-off repairs of what earlier versions recorded wrongly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from sendpool.cli.common import console, friendly_errors, open_store

app = typer.Typer(help="One-off repairs after an upgrade; each is safe to run again.")


@app.command("suppressions")
@friendly_errors
def suppressions(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be lifted; change nothing.")
    ] = False,
) -> None:
    """Lift suppressions made from replies about the sender, not the address.

    Earlier versions suppressed recipients when a relay refused the sender
    (554 5.7.1 Relay access denied, a policy or blocklist rejection). This reads
    every suppression's recorded reply again and lifts those that were no hard
    bounce; true hard bounces (5.1.1 user unknown) stay. The run is written to
    the audit log (action repair.suppressions). Running it again lifts nothing.
    """
    from sendpool.services.operations.repair import repair_suppressions

    rt = open_store()
    try:
        run = rt.db.transaction(
            repair_suppressions, now=datetime.now(UTC), dry_run=dry_run, actor="cli"
        )
    finally:
        rt.close()
    verb = "would lift" if dry_run else "lifted"
    for customer, count in run.lifted_by_customer.items():
        console.print(f"  {escape(customer)}: {verb} {count:,}", highlight=False)
    summary = f"{verb} {run.lifted:,} of {run.examined:,} suppression(s)"
    console.print(summary + ("; dry run: nothing changed" if dry_run else ""), highlight=False)
