"""``sendpool retention``: delete settled messages and old events past their retention, now.

Only typer is imported at module level: the command's own imports (the
runtime, the store) wait until it runs, so ``sendpool --help`` stays quick.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

app = typer.Typer(help="History kept for a time: settled messages, events and audit entries.")


@app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go, per table; delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="Keep settled messages this many days, for this run (SENDPOOL_RETENTION_DAYS).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Rows per transaction (SENDPOOL_RETENTION_BATCH_SIZE)."),
    ] = None,
) -> None:
    """Delete what is past retention, in batches that each commit; safe to stop and run again.

    Settled messages (sent, failed) go SENDPOOL_RETENTION_DAYS (30) days after
    they settled; delivery events, unmatched webhook events and the daily skip
    counts after SENDPOOL_EVENT_RETENTION_DAYS (90); audit entries after
    SENDPOOL_AUDIT_RETENTION_DAYS (0: kept forever). Queued, deferred and
    sending messages never go, and the per-day rollups stay. A run that
    deletes is written to the audit log (action retention.run). `serve` runs
    the same once a day at SENDPOOL_RETENTION_AT (04:00 UTC).
    """
    from sendpool.cli.common import friendly_errors

    friendly_errors(_run)(dry_run=dry_run, as_json=as_json, days=days, batch_size=batch_size)


def _run(*, dry_run: bool, as_json: bool, days: int | None, batch_size: int | None) -> None:
    import json
    from datetime import UTC, datetime

    from rich.progress import Progress, SpinnerColumn, TextColumn

    from sendpool.cli.common import console, err_console, open_runtime
    from sendpool.services.operations.retention import TableSweep, policy_from, run_retention

    overrides: dict[str, Any] = {}
    if days is not None:
        overrides["retention_days"] = days
    if batch_size is not None:
        overrides["retention_batch_size"] = batch_size
    rt = open_runtime(**overrides)  # bad values are refused here, before anything is read
    verb = "would delete" if dry_run else "deleted"
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
        disable=as_json,
    )

    so_far: dict[str, int] = {}

    def shown(sweep: TableSweep) -> None:
        so_far[sweep.table] = sweep.rows
        progress.update(task, description=f"{sweep.table}: {verb} {sweep.rows:,}")

    try:
        with progress:
            task = progress.add_task("starting", total=None)
            result = run_retention(
                rt.db,
                policy=policy_from(rt.settings),
                now=datetime.now(UTC),
                dry_run=dry_run,
                actor="cli",
                on_batch=shown,
            )
    except KeyboardInterrupt:
        # Every finished batch is committed: say what went, and that a new run carries on.
        done = ", ".join(f"{t} {n:,}" for t, n in so_far.items()) or "nothing"
        err_console.print(f"interrupted: {verb} {done}; run it again to carry on")
        raise typer.Exit(130) from None
    finally:
        rt.close()
    if as_json:
        console.print_json(json.dumps(result.figures()))
        return
    if not result.tables:
        console.print("every retention setting is 0: everything is kept", highlight=False)
        return
    for t in result.tables:
        console.print(
            f"  {t.table}: {verb} {t.rows:,} written before {t.cutoff:%Y-%m-%d %H:%M} UTC "
            f"({t.days} days kept)",
            highlight=False,
        )
    summary = f"{verb} {result.rows:,} row(s) in {result.seconds:.1f} s"
    console.print(summary + ("; dry run: nothing changed" if dry_run else ""), highlight=False)
