"""Bounces that are not RFC 3464 DSNs: plain-text notices read by their wording.

Kept modest on purpose: only formats that still arrive and that say clearly
that they are a bounce are read, and a notice whose wording gives no status code
stays UNKNOWN rather than guessed. Recognised, in this order:

- qmail's "Hi. This is the qmail-send program at ..." (with ``<address>:``
  paragraphs and codes as "(#5.1.1)" or "Remote host said: 550 5.1.1 ...");
- any notice with ``X-Failed-Recipients`` (Exim sends it, DSN or not);
- a mail-system sender (MAILER-DAEMON, postmaster) or a bounce subject
  ("Undelivered Mail Returned to Sender", "Mail delivery failed",
  "Undeliverable:", "failure notice" ...) together with a status code in the text.

Recipients come from ``X-Failed-Recipients``, else from lines that open with
``<address>`` (qmail, Postfix, Sendmail), else from indented lines holding only
an address (Exim); each one's diagnostic is the paragraph after it. Only the
text before the copy of the original message is read, so codes quoted from it
are not taken for the bounce's own.
"""

from __future__ import annotations

import re
from email.message import Message

from sendpool.core.reports.kinds import ENHANCED, format_status, kind_of_status, status_code
from sendpool.core.reports.mime import (
    DIAGNOSTIC_MAX,
    ID_MAX,
    Fields,
    clean,
    decoded_header,
    header,
    text_blocks,
    text_of,
    walk,
)
from sendpool.core.reports.results import RecipientResult, Report
from sendpool.core.reports.returned import loops, returned_fields, tokens

QMAIL = "this is the qmail-send program"
SYSTEM_SENDERS = ("mailer-daemon@", "postmaster@", "mail-daemon@", "mailerdaemon@")
BOUNCE_SUBJECTS = (
    "undelivered mail returned to sender",  # Postfix
    "mail delivery failed",  # Exim
    "returned mail",  # Sendmail
    "undeliverable",  # Exchange
    "undelivered mail",
    "failure notice",  # qmail
    "delivery status notification (failure)",  # Gmail
    "delivery failure",
    "mail delivery failure",
    "non-delivery",
    "nondeliverable",
)
COPY_MARKERS = (
    "--- below this line is a copy of the message",  # qmail
    "------ this is a copy of the message",  # Exim
    "----- original message follows",
    "----- original message -----",
    "original message follows",
    "----- transcript of session follows",  # Sendmail
    "content-type: message/rfc822",
)
BRACKETED = re.compile(r"^\s*<([^<>\s@]+@[^<>\s]+)>", re.MULTILINE)
BARE = re.compile(r"^[ \t]+([^<>\s@:]+@[^<>\s:]+)[ \t]*$", re.MULTILINE)
SMTP_CODE = re.compile(r"(?<![\d.])[45]\d\d[ -]")


def _body(msg: Message) -> str:
    """The first text/plain part; or, for a multipart whose boundary never split it
    (missing or wrong), its whole unsplit text."""
    part = next((p for _, p in walk(msg) if p.get_content_type() == "text/plain"), None)
    return text_of(part if part is not None else msg)


def _split(body: str) -> tuple[str, str]:
    """The notice's own text, and the copy of the original message after it."""
    low = body.lower()
    cut = min((i for i in (low.find(m) for m in COPY_MARKERS) if i >= 0), default=len(body))
    return body[:cut], body[cut:]


def _looks_like_bounce(msg: Message, notice: str) -> bool:
    sender = (header(msg, "From") or "").lower()
    subject = decoded_header(msg, "Subject").lower()
    system = any(s in sender for s in SYSTEM_SENDERS)
    bounce_subject = any(subject.startswith(s) for s in BOUNCE_SUBJECTS)
    coded = ENHANCED.search(notice) is not None or SMTP_CODE.search(notice) is not None
    return (
        QMAIL in notice.lower()
        or header(msg, "X-Failed-Recipients") is not None
        or ((system or bounce_subject) and coded)
    )


def _recipients(msg: Message, notice: str) -> list[str]:
    failed = header(msg, "X-Failed-Recipients", 8 * ID_MAX) or ""
    listed = [a.strip().strip("<>") for a in failed.split(",") if "@" in a]
    found = listed or BRACKETED.findall(notice) or BARE.findall(notice)
    return list(dict.fromkeys(a[:ID_MAX] for a in found))


def _paragraph(notice: str, address: str) -> str:
    """The text from the line naming ``address`` to the next blank line."""
    start = notice.find(address)
    end = notice.find("\n\n", start) if start >= 0 else -1
    return notice[start + len(address) : end if end >= 0 else len(notice)] if start >= 0 else ""


def _result(recipient: str | None, text: str) -> RecipientResult:
    text = clean(text, 4 * DIAGNOSTIC_MAX).lstrip(">:").strip()
    basic = SMTP_CODE.search(text)
    diagnostic = (text[basic.start() :] if basic else text)[:DIAGNOSTIC_MAX] or None
    status = format_status(status_code(text))
    return RecipientResult(
        recipient=recipient,
        kind=kind_of_status(status, diagnostic, "failed"),
        status=status,
        action="failed",
        diagnostic=diagnostic,
        remote_mta=None,
    )


def _copied_fields(copy: str) -> Fields:
    lines = copy.splitlines()[1:]  # the marker line itself
    text = "\n".join(lines).lstrip("\n")
    return next(text_blocks(text), {})


def read_heuristic(msg: Message, max_recipients: int) -> Report | None:
    """The bounce ``msg`` is, read by its wording; None when it does not read as one."""
    notice, copy = _split(_body(msg))
    if not _looks_like_bounce(msg, notice):
        return None
    found = _recipients(msg, notice)
    truncated = len(found) > max_recipients
    results = tuple(_result(a, _paragraph(notice, a) or notice) for a in found[:max_recipients])
    if not results:
        results = (_result(None, notice),)
    returned = returned_fields(msg) or _copied_fields(copy)
    first = results[0]
    reason = (
        f"bounce without a DSN, read by its wording: {first.status or 'no status code'} "
        f"{first.recipient or '(no recipient found)'} ({first.kind.value})"
    )
    if truncated:
        reason += f"; only the first {max_recipients} recipients were read"
    return Report(
        format="heuristic",
        kind=first.kind,
        results=results,
        tokens=tokens(None, returned, msg),
        report_id=header(msg, "Message-ID", ID_MAX),
        reported_by=None,
        arrival=None,
        feedback_type=None,
        loop=loops(returned),
        truncated=truncated,
        reason=reason,
    )
