"""One webhook request: verified by its vendor's scheme, then its events applied once each.

A request that does not verify (a forged or changed body, a wrong key, a
stale timestamp, a replayed token, a topic not allowed, the wrong content
type) is refused with a 4xx and changes nothing: the serving process keeps the
count of refusals and the last reason in memory (``refusals``, for an operator
who wonders why no event arrives), and in /metrics. A verified request is
applied in one transaction:

- an event finds its message by the sendpool uid it carried as metadata, then by
  the vendor's own id, and only among this server's messages; none: it is kept
  apart as unmatched, for an operator, and counted nowhere;
- bounces, complaints and deferrals become delivery events, applied as a report
  that came back by mail is (``services.inbound.apply``): the event once (its key
  is the server, the vendor and the vendor's event id, so a redelivery counts
  once), the suppression, the server's rates and, past a threshold, its pause;
- an unsubscribe at the vendor unsubscribes the subscriber; a send the vendor
  refused for its own suppression list suppresses the address here too;
- deliveries, opens and clicks change no figure.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from sendpool.core.bounce_policy import BouncePolicy
from sendpool.core.reports import RecipientResult, Report, ReportKind
from sendpool.core.webhooks.events import (
    REPORT_KINDS,
    EventKind,
    VendorEvent,
    Verified,
    WebhookRefused,
)
from sendpool.core.webhooks.mailgun import read_mailgun
from sendpool.core.webhooks.postmark import read_postmark
from sendpool.core.webhooks.sendgrid import read_sendgrid
from sendpool.metrics import AUTO_PAUSES, WEBHOOK_EVENTS, WEBHOOK_REQUESTS
from sendpool.runtime import Runtime
from sendpool.secretbox import SecretBox
from sendpool.services.inbound.apply import apply_event, pause_if_over
from sendpool.services.inbound.handle import (
    EVENT_KINDS,
    describe,
    policy_from,
    same_address,
    suppression_reason,
)
from sendpool.services.lists.unsubscribe import unsubscribe
from sendpool.services.webhooks import secret
from sendpool.services.webhooks.backoff import vendor_deferrals
from sendpool.services.webhooks.sns import read_sns
from sendpool.services.webhooks.sns_certs import SnsCertificates
from sendpool.store.reports import NewEvent, SentMessage, suppress
from sendpool.store.tables import Campaign, Message
from sendpool.store.webhooks import (
    Unmatched,
    WebhookServer,
    keep_unmatched,
    message_by_remote_id,
    message_by_uid,
    note_accepted,
    remember_once,
    server_by_uid,
)

log = logging.getLogger("sendpool.webhooks")

VENDOR_NAMES = {"ses": "SES", "mailgun": "Mailgun", "postmark": "Postmark", "sendgrid": "SendGrid"}
# SNS posts its JSON labelled text/plain; the other vendors label theirs application/json.
CONTENT_TYPES = {
    "ses": ("text/plain", "application/json"),
    "mailgun": ("application/json",),
    "postmark": ("application/json",),
    "sendgrid": ("application/json",),
}


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    body: bytes
    headers: Mapping[str, str]  # names lower-cased
    basic_auth: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The last request refused for a server, and how many were since this process started."""

    at: datetime
    why: str
    count: int


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


class WebhookReceiver:
    """Verify and apply vendor webhook requests; safe to share between tasks."""

    def __init__(
        self,
        rt: Runtime,
        *,
        certs: SnsCertificates | None = None,
        policy: BouncePolicy | None = None,
    ) -> None:
        self.db = rt.db
        self.box: SecretBox = rt.box
        self.policy = policy or policy_from(rt.settings)
        self.certs = certs or SnsCertificates()
        self.refusals: dict[int, Refusal] = {}  # by server id: one entry per vendor server

    def _refused(self, server_id: int) -> int:
        last = self.refusals.get(server_id)
        return 0 if last is None else last.count

    async def close(self) -> None:
        await self.certs.close()

    async def __call__(
        self, server_uid: str, vendor: str, request: WebhookRequest, now: datetime
    ) -> Answer:
        server = await self.db.run(server_by_uid, server_uid)
        if vendor not in VENDOR_NAMES or server is None or server.type != vendor:
            WEBHOOK_REQUESTS.labels(
                vendor if vendor in VENDOR_NAMES else "other", "refused_404"
            ).inc()
            return Answer(404, {"detail": f"no {vendor[:20]} server with uid {server_uid[:40]}"})
        try:
            verified = await self._verify(server, vendor, request, now)
            tally = await self.db.run(self._apply, server, vendor, verified, now)
        except WebhookRefused as refused:
            why = f"{refused.status} {refused.reason}"[:500]
            self.refusals[server.id] = Refusal(now, why, self._refused(server.id) + 1)
            WEBHOOK_REQUESTS.labels(vendor, f"refused_{refused.status}").inc()
            log.warning("webhook for %s (%s) refused: %s", server.name, vendor, why)
            return Answer(refused.status, {"detail": refused.reason})
        WEBHOOK_REQUESTS.labels(vendor, "accepted").inc()
        for outcome, n in tally.items():
            WEBHOOK_EVENTS.labels(vendor, outcome).inc(n)
        body: dict[str, Any] = {"accepted": sum(tally.values()), **dict(tally)}
        return Answer(200, body)

    async def _verify(
        self, server: WebhookServer, vendor: str, request: WebhookRequest, now: datetime
    ) -> Verified:
        label = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if label not in CONTENT_TYPES[vendor]:
            said = " or ".join(CONTENT_TYPES[vendor])
            raise WebhookRefused(415, f"content type {label[:60] or 'none'!r}; send {said}")
        secret_ok = secret.credentials_ok(self.box, server.uid, request.basic_auth)
        if vendor == "postmark":
            if not secret_ok:
                raise WebhookRefused(
                    401, "Postmark signs nothing: the URL must carry this server's webhook password"
                )
            return read_postmark(request.body, now)
        if vendor == "mailgun":
            key = self.box.open(server.secrets_sealed).get("webhook_signing_key")
            if not key:
                raise WebhookRefused(
                    403, "this server has no webhook_signing_key; set it from Mailgun's console"
                )
            return read_mailgun(request.body, key, now)
        if vendor == "sendgrid":
            public_key = server.settings.get("webhook_public_key")
            if not public_key:
                raise WebhookRefused(
                    403, "this server has no webhook_public_key; set it from SendGrid's console"
                )
            return read_sendgrid(request.body, request.headers, str(public_key), now)
        topics = [str(t) for t in server.settings.get("sns_topic_arns") or []]
        return await read_sns(
            request.body, allowed_topics=topics, secret_ok=secret_ok, certs=self.certs, now=now
        )

    def _apply(
        self,
        conn: Connection,
        server: WebhookServer,
        vendor: str,
        verified: Verified,
        now: datetime,
    ) -> Counter[str]:
        if verified.replay_key is not None:
            key = _key(server.id, vendor, "replay", verified.replay_key)
            until = verified.replay_until or now
            if not remember_once(conn, key, until, now):
                raise WebhookRefused(403, "replayed: this signed token was used before")
        tally: Counter[str] = Counter()
        last = None
        applied: list[VendorEvent] = []  # each event once: a redelivery is a duplicate
        for event in verified.events:
            outcome = self._one(conn, server, event, now)
            tally[outcome] += 1
            if outcome == "applied":
                applied.append(event)
            last = f"{event.kind.value} for {event.our_id or event.vendor_message_id or '?'}: {outcome}"
        if tally["applied"]:
            # Once per request, after all its events: a batch is about one server.
            paused = pause_if_over(conn, server.id, server.name, self.policy, now)
            if paused is not None:
                AUTO_PAUSES.labels(server.name).inc()
                log.warning("server %s paused: %s", server.name, paused)
        vendor_deferrals(conn, server.id, applied, now)  # adaptive back-off hears them too
        note_accepted(conn, server.id, len(verified.events), last, now)
        return tally

    def _one(
        self, conn: Connection, server: WebhookServer, event: VendorEvent, now: datetime
    ) -> str:
        if event.kind is EventKind.IGNORED:
            return "ignored"
        message = _find(conn, server.id, event)
        if message is None or event.kind is EventKind.UNKNOWN:
            kept = keep_unmatched(conn, _unmatched(server, event), now)
            what = "unknown" if message is not None else "unmatched"
            return what if kept else "duplicate"
        if event.kind is EventKind.DELIVERED:
            return "delivered"
        if event.kind is EventKind.UNSUBSCRIBE:
            return _unsubscribe(conn, message, event, now)
        if event.kind is EventKind.SUPPRESSED:
            return _vendor_suppressed(conn, server, message, event, now)
        return self._report(conn, server, message, event, now)

    def _report(
        self,
        conn: Connection,
        server: WebhookServer,
        message: SentMessage,
        event: VendorEvent,
        now: datetime,
    ) -> str:
        kind = REPORT_KINDS[event.kind]
        result = RecipientResult(
            event.recipient, kind, event.status, None, event.diagnostic, event.reported_by
        )
        report = _as_report(event, kind)
        new = NewEvent(
            message=message,
            kind=EVENT_KINDS[kind],
            detail=describe(result, report, server.name, now)
            + f" [{_vendor(server)}: {event.detail}]",
            status_code=event.status,
            source=f"webhook:{server.type}",
            reported_by=event.reported_by,
            dedup_key=_key(server.id, server.type, "event", event.event_id),
        )
        applied = apply_event(
            conn,
            new,
            kind,
            policy=self.policy,
            now=now,
            suppression_reason=suppression_reason(result, report, self.policy),
            check_pause=False,
        )
        return "applied" if applied.written else "duplicate"


def _find(conn: Connection, server_id: int, event: VendorEvent) -> SentMessage | None:
    """Our id first, then the vendor's; the recipient, when named, must be the message's."""
    found = None
    if event.our_id:
        found = message_by_uid(conn, server_id, event.our_id)
    if found is None and event.vendor_message_id:
        found = message_by_remote_id(conn, server_id, event.vendor_message_id)
    if found is not None and event.recipient and not same_address(event.recipient, found.recipient):
        return None
    return found


def _unsubscribe(conn: Connection, message: SentMessage, event: VendorEvent, now: datetime) -> str:
    row = conn.execute(
        select(Message.subscriber_id, Campaign.list_id)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.id == message.id)
    ).first()
    if row is not None and row[0] is not None:
        done = unsubscribe(
            conn, subscriber_id=int(row[0]), list_id=int(row[1]), source="vendor", now=now,
            message_id=message.id,
        )  # fmt: skip
        return "applied" if done.changed else "duplicate"
    # Transactional mail names no list: the address is suppressed for the customer.
    kept = suppress(
        conn, customer_id=message.customer_id, email=message.recipient, kind="unsubscribe",
        reason=f"unsubscribed at the vendor ({event.detail})", server_id=message.server_id,
        now=now,
    )  # fmt: skip
    return "applied" if kept else "duplicate"


def _vendor_suppressed(
    conn: Connection, server: WebhookServer, message: SentMessage, event: VendorEvent, now: datetime
) -> str:
    """The vendor did not send, the address being on its own list: never send it again here."""
    kept = suppress(
        conn, customer_id=message.customer_id, email=message.recipient, kind="vendor",
        reason=f"on {_vendor(server)}'s suppression list ({event.detail})",
        server_id=server.id, now=now,
    )  # fmt: skip
    return "applied" if kept else "duplicate"


def _as_report(event: VendorEvent, kind: ReportKind) -> Report:
    """The event in the shape the report texts are written from (describe, reasons)."""
    return Report(
        format="webhook",
        kind=kind,
        results=(),
        tokens=(),
        report_id=event.event_id,
        reported_by=event.reported_by,
        arrival=event.occurred_at,
        feedback_type=event.feedback_type,
        loop=False,
        truncated=False,
        reason=event.detail,
    )


def _unmatched(server: WebhookServer, event: VendorEvent) -> Unmatched:
    return Unmatched(
        server_id=server.id,
        vendor=server.type,
        event_key=_key(server.id, server.type, "event", event.event_id),
        kind=event.kind.value,
        recipient=event.recipient,
        our_id=event.our_id,
        vendor_message_id=event.vendor_message_id,
        detail=event.detail,
    )


def _vendor(server: WebhookServer) -> str:
    return VENDOR_NAMES.get(server.type, server.type)


def _key(server_id: int, vendor: str, what: str, value: str) -> str:
    return hashlib.sha256(f"{server_id}\0{vendor}\0{what}\0{value}".encode()).hexdigest()
