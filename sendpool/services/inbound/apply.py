"""One event's consequences, in one transaction: the event, the suppression, a pause.

The event is written first and only once (its key is unique): when it was
already there, nothing else happens, so a report delivered twice counts once.
What suppresses and what pauses are the core's decisions
(``sendpool.core.bounce_policy``); this module reads what they need and writes
what they say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from sendpool.core.bounce_policy import (
    BouncePolicy,
    pause_reason,
    sends_that_matter,
    suppresses,
)
from sendpool.core.rebalance import Activity
from sendpool.core.reports import ReportKind
from sendpool.services.operations.audit import write_audit
from sendpool.store.reports import (
    NewEvent,
    events_about_sends,
    insert_event,
    pause_server,
    sent_up_to,
    soft_bounces_since,
    suppress,
)

PAUSE_ACTION = "server.pause"
PAUSE_ACTOR = "sendpool"  # the pool paused itself; an operator resumes it


@dataclass(frozen=True, slots=True)
class Applied:
    written: bool  # False: the same event was already recorded, and nothing changed
    suppressed: bool = False  # this event suppressed the recipient (it was not before)
    paused: str | None = None  # this event paused the server: why, with the figures


def apply_event(
    conn: Connection,
    event: NewEvent,
    kind: ReportKind,
    *,
    policy: BouncePolicy,
    now: datetime,
    suppression_reason: str,
    check_pause: bool = True,
) -> Applied:
    """Write the event once, and what it causes. ``check_pause=False`` leaves the pause check
    to the caller, which applies a batch of events about one server and checks once after."""
    m = event.message
    soft_before = 0
    if kind is ReportKind.SOFT:
        since = now - timedelta(days=policy.soft_days)
        soft_before = soft_bounces_since(conn, m.customer_id, m.recipient, since)
    if not insert_event(conn, event, now):
        return Applied(written=False)
    suppressed = False
    if suppresses(kind, soft_before, policy):
        suppressed = suppress(
            conn,
            customer_id=m.customer_id,
            email=m.recipient,
            kind=event.kind,
            reason=suppression_reason,
            server_id=m.server_id,
            now=now,
        )
    paused = None
    if check_pause and m.server_id is not None:
        paused = pause_if_over(conn, m.server_id, m.server_name, policy, now)
    return Applied(written=True, suppressed=suppressed, paused=paused)


def pause_if_over(
    conn: Connection, server_id: int, name: str | None, policy: BouncePolicy, now: datetime
) -> str | None:
    """Pause the server if its last 24 hours cross a threshold.

    Run after every event, so it must not cost a day's sends each time: the
    events are counted first, and the sends only as far as they could still
    matter (``sends_that_matter``), which for a healthy server is few.
    """
    since = now - timedelta(hours=24)
    bounces, complaints = events_about_sends(conn, server_id, since, now)
    limit = sends_that_matter(bounces, complaints, policy)
    if limit is None:
        return None
    act = Activity(sent_up_to(conn, server_id, since, now, limit), bounces, complaints)
    reason = pause_reason(act.sent, act.bounces, act.complaints, policy)
    if reason is None or not pause_server(conn, server_id, reason, now):
        return None
    write_audit(
        conn,
        actor=PAUSE_ACTOR,
        action=PAUSE_ACTION,
        now=now,
        server_id=server_id,
        detail={
            "server": name,
            "reason": reason,
            "sent_last_24h": act.sent,
            "bounces_last_24h": act.bounces,
            "complaints_last_24h": act.complaints,
            "bounce_rate_last_24h": act.bounce_rate,
            "complaint_rate_last_24h": act.complaint_rate,
        },
    )
    return reason
