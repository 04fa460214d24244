"""Vendors' deferral events (SES DeliveryDelay, SendGrid deferred, Mailgun and Postmark
temporary failures) fed to adaptive back-off like the SMTP replies a worker sees.

A vendor that relays our mail meets the provider's "421 4.7.28" itself and tells
us by webhook; the back-off must hear it, or an API server would keep pushing
Gmail at full speed while Gmail defers every message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from sendpool.core.backoff_rules import Deferral, reply_codes
from sendpool.core.providers import group_of, with_shipped
from sendpool.core.webhooks.events import EventKind, VendorEvent
from sendpool.store.backoffs import record_backoffs
from sendpool.store.providers import load_providers


def vendor_deferrals(
    conn: Connection, server_id: int, events: Sequence[VendorEvent], now: datetime
) -> None:
    """Record the deferrals among ``events`` (already applied once each) against the server."""
    delays = [e for e in events if e.kind is EventKind.DELAY and e.recipient]
    if not delays:
        return
    groups = with_shipped(load_providers(conn)[0])
    facts: list[Deferral] = []
    for e in delays:
        assert e.recipient is not None
        group = group_of(e.recipient.rpartition("@")[2].lower(), groups)
        if group is None:
            continue
        text = e.diagnostic or e.detail
        code, enhanced = reply_codes(text)
        facts.append(
            Deferral(server_id, group, code, e.status or enhanced, text, e.occurred_at or now)
        )
    if facts:
        record_backoffs(conn, facts, {}, now)
