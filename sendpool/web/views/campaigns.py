"""Campaigns across every customer, as operators follow them: progress, what waits, the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import Connection, func, select

from sendpool.core.states import MessageStatus
from sendpool.services.campaigns import overview
from sendpool.services.campaigns.overview import CampaignLine
from sendpool.services.campaigns.report import CampaignReport, WaitReason, campaign_report
from sendpool.services.messages.log import LogRow, SkipReason, message_log, skip_reasons
from sendpool.services.tenancy import customers
from sendpool.store.tables import Campaign, Message
from sendpool.store.waking import WAITING_PREFIX

PATH = "/admin/campaigns"
# reason -> (what the row says, what its time means): the words `sendpool campaign` uses too.
WAIT_WORDS = {
    WaitReason.DEFERRED: ("Deferred for a retry", "next retry"),
    WaitReason.WINDOW: ("Waiting for a server's window", "next try"),
    WaitReason.PAUSED: ("Held: the campaign is paused", "until it is resumed"),
}


@dataclass(frozen=True, slots=True)
class CampaignsPage:
    lines: list[CampaignLine]
    customers: list[str]  # names, for the filter
    statuses: tuple[str, ...]
    status: str | None
    customer: str | None

    @property
    def filtered(self) -> bool:
        return self.status is not None or self.customer is not None


@dataclass(frozen=True, slots=True)
class CampaignPage:
    line: CampaignLine
    report: CampaignReport
    log: list[LogRow]
    recipient: str | None
    offset: int
    limit: int
    skips: list[SkipReason]  # why the dispatcher left servers out today, for what waits
    reasons: list[tuple[str, int]] = field(default_factory=list)  # waiting reasons on messages
    after: str | None = None  # the uid this page reads on from (keyset paging)

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if len(self.log) == self.limit else None

    @property
    def next_after(self) -> str | None:
        """The cursor of the next page: as quick to read at the millionth row as at the first."""
        return self.log[-1].uid if len(self.log) == self.limit else None

    @property
    def can_pause(self) -> bool:
        return self.report.status == "sending"

    @property
    def can_resume(self) -> bool:
        return self.report.status == "paused"

    @property
    def can_send_waiting(self) -> bool:
        """Messages wait for a window and the campaign sends: they can be made due now."""
        return self.report.status == "sending" and WaitReason.WINDOW in self.report.waits

    @property
    def waits(self) -> list[tuple[str, str, int, datetime | None]]:
        """(label, what the time means, messages, earliest time) per reason that holds any."""
        return [
            (*WAIT_WORDS[reason], wait.count, wait.next_at)
            for reason, wait in self.report.waits.items()
        ]


def list_url(status: str | None, customer: str | None) -> str:
    query = {k: v for k, v in (("status", status), ("customer", customer)) if v}
    return f"{PATH}?{urlencode(query)}" if query else PATH


def campaigns_page(
    conn: Connection, *, status: str | None, customer: str | None, limit: int = 200
) -> CampaignsPage:
    """FieldError for an unknown status or customer (the filter says which)."""
    lines = overview.campaign_lines(conn, status=status, customer=customer, limit=limit)
    names = [c.name for c in customers.list_customers(conn)]
    return CampaignsPage(lines, names, overview.STATUSES, status, customer)


def campaign_page(
    conn: Connection,
    ref: str,
    *,
    recipient: str | None,
    limit: int,
    offset: int,
    now: datetime,
    after: str | None = None,
) -> CampaignPage:
    campaign_id = overview.find_campaign(conn, ref)
    log = message_log(
        conn,
        campaign_id=campaign_id,
        recipient=recipient,
        limit=limit,
        offset=offset,
        after=after,
    )
    report = campaign_report(conn, campaign_id, now)
    skips: list[SkipReason] = []
    if report.waits.get(WaitReason.WINDOW):
        plan_id, customer_id = conn.execute(
            select(Campaign.plan_id, Campaign.customer_id).where(Campaign.id == campaign_id)
        ).one()
        plan_id = plan_id or customers.effective_plan_id(conn, int(customer_id))
        if plan_id is not None:
            skips = skip_reasons(conn, int(plan_id), since_day=now.date().isoformat())
    line = overview.campaign_line(conn, campaign_id)
    reasons = waiting_reasons(conn, campaign_id)
    return CampaignPage(line, report, log, recipient, offset, limit, skips, reasons, after)


def waiting_reasons(conn: Connection, campaign_id: int, top: int = 5) -> list[tuple[str, int]]:
    """The reasons the dispatcher wrote on the campaign's waiting messages, most common first."""
    rows = conn.execute(
        select(Message.last_error, func.count())
        .where(
            Message.campaign_id == campaign_id,
            Message.status == MessageStatus.QUEUED,
            Message.last_error.like(WAITING_PREFIX + "%"),
        )
        .group_by(Message.last_error)
        .order_by(func.count().desc())
        .limit(top)
    )
    return [(str(r).removeprefix(WAITING_PREFIX).strip(), int(n)) for r, n in rows]
