"""``sendpool simulate``: where a send of N messages would go right now, without sending it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sendpool.cli.common import console, friendly_errors
from sendpool.core.selectors import DEFAULT, SELECTORS
from sendpool.core.servers import SendClass
from sendpool.errors import ConfigError, InputError

# The simulation's bounds and policies as services.operations.simulation has them, for
# --help without loading the dispatcher; tests/cli/test_startup_help.py compares them.
MAX_MESSAGES = 1_000_000
MAX_WORKERS = 64
POLICIES = (DEFAULT, *sorted(n for n in SELECTORS if n != DEFAULT))


@friendly_errors
def simulate(
    plan: Annotated[str, typer.Option(help="The plan's name (or uid).")],
    messages: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_MESSAGES,
            help="How many messages to deal out (default with --recipients: one per row).",
            show_default=False,
        ),
    ] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Simulate a burst send.")] = False,
    low_volume: Annotated[
        bool, typer.Option("--low-volume", help="Simulate a low-volume send.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=MAX_WORKERS, help="Workers sharing the messages.")
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
    policy: Annotated[
        str | None,
        typer.Option(
            help="Deal by this selector instead of the plan's own "
            f"({', '.join(POLICIES)}), or 'all' to compare them side by side.",
            show_default=False,
        ),
    ] = None,
    domains: Annotated[
        str | None,
        typer.Option(
            help="The recipients' domain mix by weight, e.g. "
            "gmail.com=40,yahoo.com=20,example.org=40 (default: a consumer-list mix).",
            show_default=False,
        ),
    ] = None,
    recipients: Annotated[
        Path | None,
        typer.Option(
            help="Take the domain mix from a recipients CSV (an 'email' column).",
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int, typer.Option(min=0, max=1000, help="Domains shown in the sticky map.")
    ] = 10,
    as_json_flag: Annotated[
        bool, typer.Option("--json", help="One JSON object, for scripts.")
    ] = False,
) -> None:
    """Run the real dispatcher over N virtual messages; send nothing, write nothing.

    Quota already used today counts, so the split is the one a send started now
    would get. Without --burst or --low-volume, the plan's burst threshold
    decides, as it does for a campaign of N recipients. The messages go to a mix
    of recipient domains, so the report shows where each domain's mail lands
    (the sticky map) and what would wait, and why.

    Examples:

      sendpool simulate --plan Marketing --messages 20000 --policy all

      sendpool simulate --plan Marketing --recipients people.csv --policy sticky_domain
    """
    from sendpool.cli.simulate_view import as_json, render
    from sendpool.config import Settings
    from sendpool.pipeline.embedded import run_async
    from sendpool.services.operations import simulation
    from sendpool.services.operations.domain_mix import mix_from_csv, parse_mix
    from sendpool.services.operations.forecasts import simulate_forecast

    if burst and low_volume:
        raise InputError("choose one of --burst and --low-volume, not both")
    if domains is not None and recipients is not None:
        raise InputError("choose one of --domains and --recipients, not both")
    simulation.check_policy(policy)
    mix = parse_mix(domains) if domains is not None else None
    if recipients is not None:
        mix, rows = mix_from_csv(recipients)
        messages = messages or min(rows, simulation.MAX_MESSAGES)
    if messages is None:
        raise InputError("give --messages N (or --recipients FILE to send one per row)")
    chosen = SendClass.BURST if burst else SendClass.LOW_VOLUME if low_volume else None
    try:
        settings = Settings()
    except ValueError as exc:
        raise ConfigError(f"settings are not valid: {exc}") from None
    reports = run_async(
        simulation.simulate(
            settings,
            plan=plan,
            messages=messages,
            send_class=chosen,
            workers=workers,
            now=datetime.now(UTC),
            policy=policy,
            mix=mix,
        )
    )
    sentence = None
    if with_forecast:
        f = run_async(
            simulate_forecast(
                settings, plan=plan, messages=messages, rate=rate, now=datetime.now(UTC)
            )
        )
        sentence = f.sentence
    if as_json_flag:
        typer.echo(as_json(reports, forecast=sentence))
        return
    render(reports, top)
    if sentence is not None:
        console.print(f"\n[bold]Forecast[/]: {escape(sentence)}", soft_wrap=True)
