"""How ``sendpool campaign`` shows a report: messages per server, and what waits until when."""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sendpool.services.campaigns.overview import CampaignLine
from sendpool.services.campaigns.report import CampaignReport, WaitReason

# reason -> (what the row says, what its time is)
LABELS = {
    WaitReason.DEFERRED: ("deferred for retry", "next retry"),
    WaitReason.WINDOW: ("waiting for a server's window", "next try"),
    WaitReason.PAUSED: ("held: the campaign is paused", "until it is resumed"),
}


def span(d: timedelta) -> str:
    """A duration as people say it: 45 s, 9 min, 7 h 18 min, 2 d 3 h."""
    s = max(0, round(d.total_seconds()))
    if s < 60:
        return f"{s} s"
    m = round(s / 60)
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    days, h = divmod(h, 24)
    return f"{days} d {h} h" if h else f"{days} d"


def moment(at: datetime, now: datetime) -> str:
    """``16:42 UTC (in 9 min)``; the date too when it is not today's (UTC)."""
    if at <= now:
        return "due now"
    shown = f"{at:%H:%M} UTC" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M} UTC"
    return f"{shown} (in {span(at - now)})"


def waiting_table(report: CampaignReport, now: datetime) -> Table | None:
    """What waits, grouped by reason, each with its count and earliest time; None if nothing."""
    if not report.waits:
        return None
    table = Table(title="what waits")
    table.add_column("reason")
    table.add_column("messages", justify="right")
    table.add_column("earliest")
    for reason, wait in report.waits.items():
        label, when = LABELS[reason]
        at = when if wait.next_at is None else f"{when} {moment(wait.next_at, now)}"
        table.add_row(label, f"{wait.count:,}", at)
    return table


def report_table(report: CampaignReport) -> Table:
    table = Table(title=f"campaign {escape(report.name)} ({report.uid}): {report.status}")
    table.add_column("server")
    table.add_column("messages sent", justify="right")
    table.add_column("share", justify="right")
    total = sum(report.by_server.values()) or 1
    for name, n in sorted(report.by_server.items()):
        table.add_row(escape(name), str(n), f"{100 * n / total:.1f} %")
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.by_status.items()))
    table.caption = f"{report.recipients} recipients: {statuses}"
    return table


def summary(report: CampaignReport) -> Text:
    """A report with nothing sent yet: a line, not a server table with no rows."""
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_status.items())) or "none yet"
    return Text(
        f"campaign {report.name} ({report.uid}): {report.status}\n"
        f"{report.recipients:,} recipients; messages: {statuses}; nothing sent yet"
    )


def report_view(
    report: CampaignReport, now: datetime, *, hint_workers: bool = False
) -> RenderableType:
    """The report, then what waits and how to follow it up."""
    parts: list[RenderableType] = [report_table(report) if report.by_server else summary(report)]
    waiting = waiting_table(report, now)
    if waiting is not None:
        parts.append(waiting)
        if hint_workers:
            parts.append(
                Text(
                    "No other worker is running: start `sendpool worker` or `sendpool serve` "
                    "to send these when they fall due."
                )
            )
        parts.append(Text(f"Follow up with: sendpool campaign status {report.uid}"))
    return Group(*parts)


def campaign_json(line: CampaignLine) -> dict[str, object]:
    return {
        "campaign": line.uid,
        "name": line.name,
        "customer": line.customer,
        "plan": line.plan,
        "status": line.status,
        "recipients": line.recipients,
        "sent": line.sent,
        "failed": line.failed,
        "created_at": line.created_at.isoformat(),
        "launched_at": line.launched_at.isoformat() if line.launched_at else None,
    }


def campaigns_table(lines: list[CampaignLine]) -> Table:
    table = Table(title=f"{len(lines)} campaign(s), newest first")
    for col in ("uid", "name", "customer", "status", "sent", "failed", "recipients", "launched"):
        justify = "right" if col in ("sent", "failed", "recipients") else "left"
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in lines:
        table.add_row(
            c.uid,
            escape(c.name),
            escape(c.customer),
            c.status,
            f"{c.sent:,}",
            f"{c.failed:,}",
            f"{c.recipients:,}",
            f"{c.launched_at:%Y-%m-%d %H:%M} UTC" if c.launched_at else "not yet",
        )
    return table
