"""Campaigns across every customer, as operators follow them: progress, servers, the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from sendpool.core.states import SETTLED_MESSAGE_STATES, MessageStatus
from sendpool.errors import NotFoundError
from sendpool.services.campaigns.report import CampaignReport, campaign_report
from sendpool.services.messages.log import LogRow, message_log
from sendpool.store.tables import Campaign, Customer, Message, Plan


@dataclass(frozen=True, slots=True)
class CampaignLine:
    uid: str
    name: str
    customer: str
    plan: str | None  # the campaign's own plan; None sends under the customer's
    status: str
    recipients: int
    sent: int
    failed: int
    created_at: datetime
    launched_at: datetime | None

    @property
    def done_percent(self) -> float:
        return 100.0 * (self.sent + self.failed) / self.recipients if self.recipients else 0.0


@dataclass(frozen=True, slots=True)
class CampaignPage:
    line: CampaignLine
    report: CampaignReport
    log: list[LogRow]
    recipient: str | None
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if len(self.log) == self.limit else None


def _lines(conn: Connection, where: ColumnElement[bool] | None, limit: int) -> list[CampaignLine]:
    stmt = (
        select(
            Campaign.id,
            Campaign.uid,
            Campaign.name,
            Customer.name.label("customer"),
            Plan.name.label("plan"),
            Campaign.status,
            Campaign.recipient_count,
            Campaign.created_at,
            Campaign.launched_at,
        )
        .join(Customer, Customer.id == Campaign.customer_id)
        .outerjoin(Plan, Plan.id == Campaign.plan_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    if where is not None:
        stmt = stmt.where(where)
    rows = conn.execute(stmt).all()
    counts: dict[tuple[int, str], int] = {}
    if rows:
        for cid, status, n in conn.execute(
            select(Message.campaign_id, Message.status, func.count())
            .where(Message.campaign_id.in_([r.id for r in rows]))
            .where(Message.status.in_(SETTLED_MESSAGE_STATES))
            .group_by(Message.campaign_id, Message.status)
        ):
            counts[(int(cid or 0), str(status))] = int(n)
    out = []
    for r in rows:
        sent = counts.get((r.id, MessageStatus.SENT), 0)
        failed = counts.get((r.id, MessageStatus.FAILED), 0)
        status = r.status
        out.append(
            CampaignLine(
                uid=r.uid,
                name=r.name,
                customer=r.customer,
                plan=r.plan,
                status=status,
                recipients=r.recipient_count,
                sent=sent,
                failed=failed,
                created_at=r.created_at,
                launched_at=r.launched_at,
            )
        )
    return out


def campaign_lines(conn: Connection, *, limit: int = 200) -> list[CampaignLine]:
    """The newest campaigns first, of every customer."""
    return _lines(conn, None, limit)


def campaign_page(
    conn: Connection,
    uid: str,
    *,
    recipient: str | None,
    limit: int,
    offset: int,
    now: datetime,
) -> CampaignPage:
    lines = _lines(conn, Campaign.uid == uid, 1)
    if not lines:
        raise NotFoundError(f"no campaign {uid!r}")
    campaign_id = conn.execute(select(Campaign.id).where(Campaign.uid == uid)).scalar_one()
    log = message_log(
        conn, campaign_id=int(campaign_id), recipient=recipient, limit=limit, offset=offset
    )
    report = campaign_report(conn, int(campaign_id), now)
    return CampaignPage(lines[0], report, log, recipient, offset, limit)
