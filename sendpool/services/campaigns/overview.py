"""Campaigns as operators see them: every customer's, found by uid or name, paused and resumed.

The tenant API reaches a campaign through its own customer only
(``lifecycle``); operators, on the admin pages and the CLI, see them all. The
moves themselves are ``lifecycle``'s; here they are found across customers and
written to the audit log under the operator's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from sendpool.core.states import SETTLED_MESSAGE_STATES, CampaignStatus, MessageStatus
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.campaigns import lifecycle
from sendpool.services.campaigns.report import CampaignReport
from sendpool.services.errors import FieldError
from sendpool.services.messages.waiting import send_waiting_now
from sendpool.services.operations.audit import write_audit
from sendpool.store.rollups import campaign_counts
from sendpool.store.tables import Campaign, Customer, Plan

STATUSES = tuple(s.value for s in CampaignStatus)
_HINTS = 5


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


def check_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        raise FieldError(
            [("status", f"unknown status {status[:40]!r}; one of {', '.join(STATUSES)}")]
        )
    return status


def _lines(conn: Connection, where: list[ColumnElement[bool]], limit: int) -> list[CampaignLine]:
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
        .where(*where)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    rows = conn.execute(stmt).all()
    counts: dict[tuple[int, str], int] = {}
    if rows:
        # From the rollups: a campaign's sent and failed survive retention's deletions.
        for (cid, _server, status), n in campaign_counts(conn, [r.id for r in rows]).items():
            if status in SETTLED_MESSAGE_STATES:
                counts[(cid, status)] = counts.get((cid, status), 0) + n
    return [
        CampaignLine(
            uid=r.uid,
            name=r.name,
            customer=r.customer,
            plan=r.plan,
            status=r.status,
            recipients=r.recipient_count,
            sent=counts.get((r.id, MessageStatus.SENT), 0),
            failed=counts.get((r.id, MessageStatus.FAILED), 0),
            created_at=r.created_at,
            launched_at=r.launched_at,
        )
        for r in rows
    ]


def campaign_lines(
    conn: Connection,
    *,
    status: str | None = None,
    customer: str | None = None,
    limit: int = 200,
) -> list[CampaignLine]:
    """The newest first, of every customer or of one (uid or name), in one status or all."""
    where: list[ColumnElement[bool]] = []
    if check_status(status) is not None:
        where.append(Campaign.status == status)
    if customer is not None:
        try:
            where.append(Campaign.customer_id == refs.customer_id(conn, customer))
        except NotFoundError as exc:
            raise FieldError([("customer", str(exc))]) from None
    return _lines(conn, where, limit)


def campaign_line(conn: Connection, campaign_id: int) -> CampaignLine:
    return _lines(conn, [Campaign.id == campaign_id], 1)[0]


def find_campaign(conn: Connection, ref: str, *, customer: str | None = None) -> int:
    """The campaign whose uid is ``ref``, else the one so named (of ``customer``, if given).

    Names are not unique: a name two campaigns share is refused with their uids,
    so the operator can name the one they mean.
    """
    found = conn.execute(select(Campaign.id).where(Campaign.uid == ref)).scalar()
    if found is not None:
        return int(found)
    stmt = (
        select(Campaign.id, Campaign.uid, Campaign.name, Customer.name)
        .join(Customer, Customer.id == Campaign.customer_id)
        .order_by(Campaign.id.desc())
    )
    if customer is not None:
        stmt = stmt.where(Campaign.customer_id == refs.customer_id(conn, customer))
    key = ref.strip().casefold()
    named = [r for r in conn.execute(stmt) if r[2].strip().casefold() == key]
    if len(named) == 1:
        return int(named[0][0])
    if not named:
        raise NotFoundError(
            f"no campaign with uid or name {ref!r}; `sendpool campaign list` shows them"
        )
    which = ", ".join(f"{uid} ({owner})" for _i, uid, _n, owner in named[:_HINTS])
    raise NotFoundError(
        f"{len(named)} campaigns are named {ref!r}: give the uid of one ({which})"
        + ("" if customer else " or --customer")
    )


def _owner(conn: Connection, campaign_id: int) -> tuple[int, str, str]:
    row = conn.execute(
        select(Campaign.customer_id, Campaign.uid, Campaign.name).where(Campaign.id == campaign_id)
    ).one()
    return int(row[0]), str(row[1]), str(row[2])


def pause_campaign(
    conn: Connection, ref: str, *, actor: str, now: datetime
) -> tuple[CampaignReport, bool]:
    """Hold its queued messages back (``lifecycle.pause_campaign``), audited as campaign.pause.

    The flag says whether it moved: pausing a paused campaign changes (and audits) nothing.
    """
    customer_id, uid, name = _owner(conn, find_campaign(conn, ref))
    before = conn.execute(select(Campaign.status).where(Campaign.uid == uid)).scalar_one()
    report = lifecycle.pause_campaign(conn, customer_id, uid, now)
    moved = before != report.status
    if moved:
        detail = {"campaign": uid, "name": name}
        write_audit(conn, actor=actor, action="campaign.pause", now=now, detail=detail)
    return report, moved


def resume_campaign(
    conn: Connection, ref: str, *, actor: str, now: datetime
) -> tuple[CampaignReport, bool]:
    """Send again (``lifecycle.resume_campaign``), audited as campaign.resume; the flag as above.

    Resuming one that is not paused (sending already) changes nothing.
    """
    customer_id, uid, name = _owner(conn, find_campaign(conn, ref))
    before = conn.execute(select(Campaign.status).where(Campaign.uid == uid)).scalar_one()
    report = lifecycle.resume_campaign(conn, customer_id, uid, now)
    moved = before != report.status
    if moved:
        detail = {"campaign": uid, "name": name}
        write_audit(conn, actor=actor, action="campaign.resume", now=now, detail=detail)
    return report, moved


def send_waiting(conn: Connection, ref: str, *, actor: str, now: datetime) -> tuple[str, int]:
    """(name, messages made due) for ``send_waiting_now``; audited as campaign.send_waiting.

    A paused campaign is refused there (ConflictError): resuming it sends what waits.
    """
    campaign_id = find_campaign(conn, ref)
    _customer_id, uid, name = _owner(conn, campaign_id)
    woken = send_waiting_now(conn, campaign_id=campaign_id, now=now)
    if woken:
        detail = {"campaign": uid, "name": name, "messages": woken}
        write_audit(conn, actor=actor, action="campaign.send_waiting", now=now, detail=detail)
    return name, woken
