"""``sendpool simulate``: where a send of N messages would go right now, without sending it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, friendly_errors
from sendpool.config import Settings
from sendpool.core.servers import SendClass
from sendpool.errors import ConfigError, InputError
from sendpool.pipeline.embedded import run_async
from sendpool.services.operations import simulation
from sendpool.services.operations.forecasts import simulate_forecast

BAR = 20
CLASS = {SendClass.LOW_VOLUME: "low-volume", SendClass.BURST: "burst"}


def _render(r: simulation.SimulationReport) -> None:
    console.print(
        f"[bold]plan {escape(r.plan)}[/]: {r.messages:,} {CLASS[r.send_class]} message(s) ({r.chosen_by})",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("server")
    table.add_column("messages", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    for s in r.split:
        table.add_row(escape(s.server), f"{s.messages:,}", f"{100 * s.share:.1f} %", _bar(s.share))
    console.print(table)
    console.print(
        f"{r.ready:,} would be sent now, {r.waiting:,} would wait "
        f"({r.workers} worker(s), batches of {r.batch_size:,}); nothing was sent or written",
        soft_wrap=True,
    )
    if r.skips:
        console.print("\n[bold]Servers left out[/] (messages: reason)")
    for k in r.skips:
        console.print(
            f"  {escape(k.server)}: {k.messages:,} message(s): {escape(k.reason)}",
            soft_wrap=True,
            highlight=False,
        )
    if r.waits:
        console.print(
            "\n[bold]Messages that would wait[/] (until the earliest time a server may take them)"
        )
    for w in r.waits:
        console.print(
            f"  {w.messages:,} until {w.until:%Y-%m-%d %H:%M:%S} UTC: {escape(w.reason)}",
            soft_wrap=True,
            highlight=False,
        )


def _bar(share: float) -> str:
    full = round(BAR * share)
    return "█" * full + "·" * (BAR - full)


@friendly_errors
def simulate(
    plan: Annotated[str, typer.Option(help="The plan's name (or uid).")],
    messages: Annotated[
        int,
        typer.Option(min=1, max=simulation.MAX_MESSAGES, help="How many messages to deal out."),
    ],
    burst: Annotated[bool, typer.Option("--burst", help="Simulate a burst send.")] = False,
    low_volume: Annotated[
        bool, typer.Option("--low-volume", help="Simulate a low-volume send.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=simulation.MAX_WORKERS, help="Workers sharing the messages.")
    ] = 1,
    with_forecast: Annotated[
        bool,
        typer.Option(
            "--forecast",
            help="Also forecast the plan's day: when each server fills its daily cap, and "
            "what then waits until when, with these messages queued on top of the queue.",
        ),
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option(
            help="With --forecast: new mail per second to assume (default: the rate of the "
            "last ten minutes).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the real dispatcher over N virtual messages; send nothing, write nothing.

    Quota already used today counts, so the split is the one a send started now
    would get. Without --burst or --low-volume, the plan's burst threshold
    decides, as it does for a campaign of N recipients.
    """
    if burst and low_volume:
        raise InputError("choose one of --burst and --low-volume, not both")
    chosen = SendClass.BURST if burst else SendClass.LOW_VOLUME if low_volume else None
    try:
        settings = Settings()
    except ValueError as exc:
        raise ConfigError(f"settings are not valid: {exc}") from None
    report = run_async(
        simulation.simulate(
            settings,
            plan=plan,
            messages=messages,
            send_class=chosen,
            workers=workers,
            now=datetime.now(UTC),
        )
    )
    _render(report)
    if with_forecast:
        f = run_async(
            simulate_forecast(
                settings, plan=plan, messages=messages, rate=rate, now=datetime.now(UTC)
            )
        )
        console.print(f"\n[bold]Forecast[/]: {escape(f.sentence)}", soft_wrap=True)
