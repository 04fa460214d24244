"""``sendpool campaign``: run a campaign from a CSV file and watch it go out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from sendpool.cli.common import console, err_console, friendly_errors, open_runtime, open_store
from sendpool.core.states import SETTLED_MESSAGE_STATES, CampaignStatus
from sendpool.errors import InputError

if TYPE_CHECKING:
    from sendpool.content.csv_import import ImportReport
    from sendpool.runtime import Runtime
    from sendpool.services.campaigns.from_csv import CsvCampaign
    from sendpool.services.campaigns.report import CampaignReport

app = typer.Typer(help="Run campaigns from CSV files and follow them.")
# What `campaign list --status` takes, as services.campaigns.overview.STATUSES has it.
STATUSES = tuple(s.value for s in CampaignStatus)


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} file {path} is not UTF-8 text") from None


def print_import_errors(report: ImportReport, limit: int = 10) -> None:
    if not report.errors:
        return
    err_console.print(f"[yellow]{report.skipped} row(s) skipped:[/]")
    for e in report.errors[:limit]:
        err_console.print(f"  {escape(str(e))}", highlight=False)
    if report.skipped > limit:
        err_console.print(f"  ... and {report.skipped - limit} more")


async def follow(
    rt: Runtime, uid: str, *, show: bool, external: bool, wait_all: bool = False
) -> CampaignReport:
    """Send (unless other workers are alive) and show progress until nothing is due soon.

    That is, until nothing is in flight and nothing is due within a minute
    (``CampaignReport.resting``); with ``wait_all``, until every message is sent
    or failed, however long retries, windows or a pause take.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from sendpool.pipeline.embedded import work_until
    from sendpool.services.campaigns.report import campaign_report

    report = await rt.db.run(campaign_report, uid, datetime.now(UTC), servers=False)
    worker = None if external else rt.worker()
    progress = Progress(
        TextColumn("[bold]sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=err_console,
        disable=not show,
    )
    with progress:
        task = progress.add_task("send", total=report.recipients, detail="")

        async def tick() -> None:
            nonlocal report
            # The split per server is read once, at the end: it reads every sent message.
            report = await rt.db.run(campaign_report, uid, datetime.now(UTC), servers=False)
            done = sum(report.by_status.get(s, 0) for s in SETTLED_MESSAGE_STATES)
            detail = " ".join(f"{k}={v}" for k, v in sorted(report.by_status.items()))
            progress.update(task, completed=done, detail=detail)

        async def finished() -> bool:
            return report.finished if wait_all else report.resting

        await work_until(worker, finished, tick=tick)
    return await rt.db.run(campaign_report, uid, datetime.now(UTC))


@app.command("run")
@friendly_errors
def run(
    customer: Annotated[str, typer.Option(help="Customer name or uid (from the pool file).")],
    csv: Annotated[Path, typer.Option(help="Recipients: a CSV with an 'email' column.")],
    subject: Annotated[str, typer.Option(help="Subject; merge fields like {{ first_name }} work.")],
    from_: Annotated[str, typer.Option("--from", help="Sender address.")],
    text: Annotated[Path | None, typer.Option(help="Text body file.")] = None,
    html: Annotated[Path | None, typer.Option(help="HTML body file.")] = None,
    plan: Annotated[
        str | None, typer.Option(help="Send under this plan, not the customer's.")
    ] = None,
    from_name: Annotated[str | None, typer.Option(help="Sender display name.")] = None,
    name: Annotated[
        str | None, typer.Option(help="Campaign name (default: the CSV's name).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary and nothing else.")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once launched.")] = False,
    wait_all: Annotated[
        bool,
        typer.Option(
            "--wait-all",
            help="Wait until every message is sent or failed, through retries, windows "
            "and pauses (retries run up to SENDPOOL_MAX_AGE_SECONDS, 3 days).",
        ),
    ] = False,
) -> None:
    """Import CSV, launch a campaign to it and follow it while it sends.

    Returns once nothing is in flight and nothing is due within a minute: every
    message is sent or failed, or what is left waits for a retry or a server's
    window more than a minute away, or for the paused campaign to be resumed.
    It then shows what waits, by reason, with the earliest time of each, and
    exits 0 (messages still waiting are not an error); follow them with
    `sendpool campaign status UID`, and keep a worker running (`sendpool worker`
    or `sendpool serve`) to send them. Without other live workers, this command
    sends itself; with them, it watches.
    """
    from sendpool.cli.campaign_view import report_view
    from sendpool.pipeline.embedded import run_async
    from sendpool.services.campaigns.drafts import CampaignDraft
    from sendpool.services.campaigns.from_csv import NoValidRowsError, run_from_csv
    from sendpool.services.campaigns.report import campaign_report
    from sendpool.store.catalog import live_workers

    if no_wait and wait_all:
        raise InputError("--no-wait and --wait-all contradict each other: give one of them")
    text_body, html_body = _read(text, "text"), _read(html, "HTML")
    if text_body is None and html_body is None:
        raise InputError("give a body: --text FILE, --html FILE or both")
    draft = CampaignDraft(name or csv.stem, subject, from_, from_name, None, text_body, html_body)
    if not csv.exists():
        raise InputError(f"CSV file {csv} does not exist")

    def announce(created: CsvCampaign) -> None:
        print_import_errors(created.imported)
        for warning in created.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if not as_json:
            err_console.print(
                f"imported {created.imported.rows} recipients for {customer}; "
                f"launching {created.uid}"
            )

    rt = open_runtime()
    try:
        with csv.open("rb") as fh:
            try:
                uid = run_from_csv(
                    engine=rt.db.engine,
                    customer=customer,
                    csv=fh,
                    draft=draft,
                    public_url=rt.settings.public_url,
                    now=datetime.now(UTC),
                    plan=plan,
                    source=str(csv),
                    on_created=announce,
                ).uid
            except NoValidRowsError as exc:
                print_import_errors(exc.report)
                raise
        external = rt.db.transaction(live_workers, datetime.now(UTC)) > 0
        if no_wait:
            report = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
        else:
            follow_it = follow(rt, uid, show=not as_json, external=external, wait_all=wait_all)
            report = run_async(follow_it)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        console.print(report_view(report, datetime.now(UTC), hint_workers=not external))


@app.command("status")
@friendly_errors
def status(
    campaign: Annotated[str, typer.Argument(help="The campaign's uid or name.")],
    customer: Annotated[
        str | None, typer.Option(help="Look the name up among this customer's campaigns.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Where a campaign stands: messages per status and per server, and what waits until when."""
    from sendpool.cli.campaign_view import report_view
    from sendpool.services.campaigns import overview
    from sendpool.services.campaigns.report import campaign_report

    rt = open_store()
    try:
        now = datetime.now(UTC)
        campaign_id = rt.db.transaction(overview.find_campaign, campaign, customer=customer)
        report = rt.db.transaction(campaign_report, campaign_id, now)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        console.print(report_view(report, now))


@app.command("list")
@friendly_errors
def list_(
    customer: Annotated[
        str | None, typer.Option(help="Only this customer's (name or uid).")
    ] = None,
    status_: Annotated[
        str | None,
        typer.Option("--status", help=f"Only campaigns in this status: {', '.join(STATUSES)}."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Campaigns, newest first: customer, status, progress; every customer's unless told."""
    from sendpool.cli.campaign_view import campaign_json, campaigns_table
    from sendpool.services.campaigns import overview

    rt = open_store()
    try:
        lines = rt.db.transaction(
            overview.campaign_lines, status=status_, customer=customer, limit=limit
        )
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps([campaign_json(line) for line in lines]))
    else:
        console.print(campaigns_table(lines))
