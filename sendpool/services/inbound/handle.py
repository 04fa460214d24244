"""Apply a report that came back after a send: once per event, to its own message only.

Every way in (the SMTP/LMTP listener, the IMAP mailboxes) hands raw bytes and
an ``Envelope`` here and gets a ``Handled`` back, one log line included. Mail
to ``unsubscribe+TOKEN@`` a bounce domain is a recipient's request, not a
report: ``mailto.py`` takes it before anything is classified. The
classification is the core's (``sendpool.core.reports.classify``); this module
finds the message the report is about, checks that the token naming it was
made with our key, and writes the consequences in one transaction
(``apply.py``): the event in the per-message log, the suppression, the
server's figures and, past a threshold, its pause.

What changes nothing, and why:

- ordinary mail (``not_a_report``): a mailbox leaves it where it is;
- auto-replies, "delivered" notices and bounces of our own bounces (a mail
  loop): ``ignored``;
- a report no verified token ties to a message we sent (``unmatched``), or
  whose only tokens fail the MAC (``forged``: someone tried to make us
  suppress addresses), or that names another address than the message's
  recipient (``unmatched``: a report about someone else's mail);
- a report the classifier could not read (``unknown``): logged for an
  operator and not stored, since it says nothing a rate or a suppression
  could act on;
- a report already applied (``duplicate``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from sendpool.config import Settings
from sendpool.content.addresses import wire_address
from sendpool.core.bounce_policy import BouncePolicy
from sendpool.core.reports import RecipientResult, Report, ReportKind, classify
from sendpool.core.return_path import read_token, token_of_address
from sendpool.errors import InputError
from sendpool.metrics import AUTO_PAUSES, REPORTS
from sendpool.runtime import Runtime
from sendpool.secretbox import RETURN_PATH_PURPOSE, UNSUBSCRIBE_PURPOSE
from sendpool.services.inbound import mailto
from sendpool.services.inbound.apply import Applied, apply_event
from sendpool.store.database import Database
from sendpool.store.reports import NewEvent, SentMessage, sent_message

log = logging.getLogger("sendpool.inbound")

MAX_NOTE = 300  # characters of a relay's own words kept in a log line or the message log

# The event each kind of result becomes; other kinds change nothing.
EVENT_KINDS = {
    ReportKind.HARD: "hard_bounce",
    ReportKind.SOFT: "soft_bounce",
    ReportKind.REPUTATION: "reputation",
    ReportKind.COMPLAINT: "complaint",
    ReportKind.DELAY: "delay",
}
_VERBS = {
    ReportKind.HARD: "bounced",
    ReportKind.SOFT: "soft-bounced",
    ReportKind.REPUTATION: "refused for the sending server's reputation or policy",
    ReportKind.COMPLAINT: "complaint",
    ReportKind.DELAY: "delayed",
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """How a report reached us: its envelope sender, its recipients, and by which way."""

    mail_from: str | None  # the report's envelope sender ("" / None for a null return path)
    recipients: tuple[str, ...]  # envelope RCPT TO (SMTP/LMTP) or the To/Delivered-To (IMAP)
    source: str  # "smtp" | "lmtp" | "imap:<server name>/<bounce|fbl>"


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of one report; mailbox adapters leave ``not_a_report`` mail where it is."""

    outcome: str  # applied | duplicate | not_a_report | unmatched | forged | ignored | unknown
    kind: str | None
    message_uid: str | None
    server_name: str | None
    note: str  # one clear log line


class ReportHandler:
    """Classify, trace and apply reports; safe to share between tasks and threads.

    It keeps no state of its own between calls: every decision is read from
    and written to the database in one transaction, so the listener and the
    mailbox pollers may call one handler (or several) at once.
    """

    def __init__(
        self,
        db: Database,
        key: bytes,
        policy: BouncePolicy,
        *,
        max_recipients: int = 1000,
        unsubscribe_key: bytes | None = None,
    ) -> None:
        self.db = db
        self._key = key
        self._unsubscribe_key = unsubscribe_key  # None: mail to unsubscribe+TOKEN is not taken
        self.policy = policy
        self.max_recipients = max_recipients

    @classmethod
    def from_runtime(cls, rt: Runtime) -> ReportHandler:
        return cls(
            rt.db,
            rt.box.derive(RETURN_PATH_PURPOSE),
            policy_from(rt.settings),
            unsubscribe_key=rt.box.derive(UNSUBSCRIBE_PURPOSE),
        )

    async def __call__(self, raw: bytes, envelope: Envelope, now: datetime) -> Handled:
        handled = await self._unsubscribe(envelope, now)
        if handled is None:
            # The classifier is pure but may chew on a large message: off the event loop.
            report = await asyncio.to_thread(classify, raw, max_recipients=self.max_recipients)
            handled = await self._handle(report, raw, envelope, now)
        REPORTS.labels(handled.outcome).inc()
        level = logging.WARNING if handled.outcome == "forged" else logging.INFO
        log.log(level, "%s", handled.note)
        return handled

    async def _unsubscribe(self, envelope: Envelope, now: datetime) -> Handled | None:
        """Mail to ``unsubscribe+TOKEN@`` a bounce domain is a request, not a report."""
        addresses = mailto.unsubscribe_addresses(envelope.recipients)
        if self._unsubscribe_key is None or not addresses:
            return None
        src = _one_line(envelope.source)
        done = await self.db.run(
            mailto.unsubscribe_by_mail, addresses, self._unsubscribe_key, source=src, now=now
        )
        return Handled(done.outcome, "unsubscribe", None, None, done.note)

    async def _handle(
        self, report: Report, raw: bytes, envelope: Envelope, now: datetime
    ) -> Handled:
        src = _one_line(envelope.source)
        if report.kind is ReportKind.NOT_A_REPORT:
            return Handled("not_a_report", None, None, None, f"{src}: not a report, left alone")
        if report.kind is ReportKind.AUTO_REPLY:
            return _ignored(src, report, "an auto-reply")
        if report.loop:
            return _ignored(src, report, "a report about one of our own reports (a mail loop)")
        kinds = {r.kind for r in report.results} or {report.kind}
        if not kinds & EVENT_KINDS.keys():
            if ReportKind.UNKNOWN in kinds:
                note = f"{src}: unknown report kept for an operator ({_one_line(report.reason)})"
                return Handled("unknown", ReportKind.UNKNOWN.value, None, None, note)
            return _ignored(src, report, "a delivery notice")
        found = await self.db.run(_find_message, self._candidates(report, envelope), self._key)
        if isinstance(found, str):
            outcome = "forged" if found == "forged" else "unmatched"
            return Handled(outcome, None, None, None, f"{src}: {_one_line(found_note(found))}")
        token, message = found
        result = result_for(report, message.recipient)
        if result is None:
            named = ", ".join(sorted({_one_line(r.recipient or "") for r in report.results}))
            note = (
                f"{src}: report for message {message.uid} names {named[:MAX_NOTE]}, "
                "not its recipient; nothing changed"
            )
            return Handled("unmatched", None, message.uid, message.server_name, note)
        if result.kind not in EVENT_KINDS:
            what = "unknown" if result.kind is ReportKind.UNKNOWN else "ignored"
            note = f"{src}: {result.kind.value} for message {message.uid}; nothing changed"
            return Handled(what, result.kind.value, message.uid, message.server_name, note)
        event = self._event(report, result, message, raw, src, now)
        applied: Applied = await self.db.run(
            apply_event,
            event,
            result.kind,
            policy=self.policy,
            now=now,
            suppression_reason=suppression_reason(result, report, self.policy),
        )
        return self._outcome(event, applied, token)

    def _candidates(self, report: Report, envelope: Envelope) -> list[str]:
        """The report's own tokens first, then our return path it was delivered to."""
        out = list(report.tokens)
        for rcpt in envelope.recipients:
            token = token_of_address(rcpt)
            if token is not None:
                out.append(token)
        return list(dict.fromkeys(out))

    def _event(
        self,
        report: Report,
        result: RecipientResult,
        message: SentMessage,
        raw: bytes,
        src: str,
        now: datetime,
    ) -> NewEvent:
        kind = EVENT_KINDS[result.kind]
        about = report.report_id or hashlib.sha256(raw).hexdigest()
        key = "\0".join(
            (str(message.id), message.recipient.lower(), kind, result.status or "", about)
        )
        return NewEvent(
            message=message,
            kind=kind,
            detail=describe(result, report, message.server_name, now),
            status_code=result.status,
            source=src,
            reported_by=_one_line(report.reported_by) if report.reported_by else None,
            dedup_key=hashlib.sha256(key.encode()).hexdigest(),
        )

    def _outcome(self, event: NewEvent, applied: Applied, token: str) -> Handled:
        m = event.message
        if not applied.written:
            note = f"{event.source}: {event.kind} for message {m.uid} already recorded; duplicate"
            return Handled("duplicate", event.kind, m.uid, m.server_name, note)
        note = f"{event.source}: message {m.uid}: {event.detail}"
        if applied.suppressed:
            note += f"; {m.recipient} suppressed for its customer"
        if applied.paused is not None:
            AUTO_PAUSES.labels(m.server_name or "").inc()
            log.warning("server %s paused: %s", m.server_name, applied.paused)
            note += f"; server {m.server_name} paused: {applied.paused}"
        return Handled("applied", event.kind, m.uid, m.server_name, note)


def policy_from(settings: Settings) -> BouncePolicy:
    return BouncePolicy(
        soft_limit=settings.soft_bounce_limit,
        soft_days=settings.soft_bounce_days,
        min_volume=settings.bounce_min_volume,
        pause_bounce_rate=settings.pause_bounce_rate,
        pause_complaint_rate=settings.pause_complaint_rate,
    )


def _find_message(
    conn: Connection, candidates: list[str], key: bytes
) -> tuple[str, SentMessage] | str:
    """The first candidate token that verifies and names a sent message; else why none does."""
    forged = 0
    for token in candidates:
        message_id = read_token(token, key)
        if message_id is None:
            forged += 1
            continue
        message = sent_message(conn, message_id)
        if message is not None and message.server_id is not None:
            return token, message
    if forged and forged == len(candidates):
        return "forged"
    return "unmatched" if candidates else "no token"


def found_note(why: str) -> str:
    return {
        "forged": "every return-path token it carries fails the MAC (forged?); nothing changed",
        "unmatched": "its token names no message sendpool sent; nothing changed",
        "no token": "it carries no return-path token; nothing changed",
    }[why]


def result_for(report: Report, recipient: str) -> RecipientResult | None:
    """The result about ``recipient``; one naming no address (an ARF) is about the message.

    A report's other recipients are not this message's: only its own is applied.
    """
    unnamed = None
    for r in report.results:
        if not r.recipient:
            unnamed = unnamed or r
        elif same_address(r.recipient, recipient):
            return r
    if unnamed is not None:
        return unnamed
    if not report.results:
        return RecipientResult(None, report.kind, None, None, None, None)
    return None


def same_address(a: str, b: str) -> bool:
    """The same mailbox, whatever the case or the form of its domain (U- or A-labels)."""
    a, b = a.strip().strip("<>").strip(), b.strip()
    if a.lower() == b.lower():
        return True
    try:
        return wire_address(a).lower() == wire_address(b).lower()
    except InputError:
        return False


def describe(result: RecipientResult, report: Report, server: str | None, at: datetime) -> str:
    """The event as the message log shows it: "bounced 5.1.1 via relay-b, reported ... by mx"."""
    text = _VERBS[result.kind]
    if result.kind is ReportKind.COMPLAINT and report.feedback_type:
        text += f" ({_one_line(report.feedback_type)[:40]})"
    if result.status:
        text += f" {_one_line(result.status)[:16]}"
    if server:
        text += f" via {server}"
    text += f", reported {at:%Y-%m-%d %H:%M} UTC"
    if report.reported_by:
        text += f" by {_one_line(report.reported_by)[:255]}"
    if result.diagnostic:
        text += f": {_one_line(result.diagnostic)[:MAX_NOTE]}"
    return text


def suppression_reason(result: RecipientResult, report: Report, policy: BouncePolicy) -> str:
    by = f" reported by {_one_line(report.reported_by)[:255]}" if report.reported_by else ""
    code = f" {_one_line(result.status)[:16]}" if result.status else ""
    if result.kind is ReportKind.COMPLAINT:
        return f"complaint{by}"
    if result.kind is ReportKind.SOFT:
        return f"{policy.soft_limit} soft bounces in {policy.soft_days} days (the latest{code}{by})"
    return f"hard bounce{code}{by}"


def _ignored(src: str, report: Report, what: str) -> Handled:
    return Handled("ignored", report.kind.value, None, None, f"{src}: {what}; ignored")


def _one_line(text: str | None) -> str:
    """Words from a report as one printable line: they come from anyone on the Internet."""
    return " ".join("".join(c if c.isprintable() else " " for c in text or "").split())
