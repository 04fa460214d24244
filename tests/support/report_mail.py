"""Reports as relays write them, about messages a test really sent: DSNs and ARF complaints.

Each builder takes what a sink received (``sendpool.sinks.Received``): the
envelope sender is our return path, and its headers travel back inside the
report, as Postfix's ``text/rfc822-headers`` part and an ARF's returned message
carry them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from sendpool.sinks import Received

_SEQ = itertools.count(1)
REPORTING_MTA = "mx.example.net"


@dataclass(frozen=True, slots=True)
class Rcpt:
    """One per-recipient block of a DSN."""

    address: str
    status: str
    action: str = "failed"
    diagnostic: str = ""


def headers_of(sent: Received) -> str:
    head = sent.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return head.replace("\r\n", "\n")


def dsn(
    sent: Received | None,
    rcpts: list[Rcpt],
    *,
    envid: str | None = None,
    report_id: str | None = None,
    returned_headers: str | None = None,
    to: str | None = None,
) -> bytes:
    """A multipart/report DSN (RFC 3464) for ``sent``, with ``rcpts`` as its recipients."""
    report_id = report_id or f"<dsn-{next(_SEQ)}@{REPORTING_MTA}>"
    to = to if to is not None else (sent.mail_from if sent else "bounces@bounce.example.net")
    returned = (
        returned_headers if returned_headers is not None else headers_of(sent) if sent else ""
    )
    per_message = f"Reporting-MTA: dns; {REPORTING_MTA}\n"
    if envid:
        per_message += f"Original-Envelope-Id: {envid}\n"
    per_message += "Arrival-Date: Tue, 1 Dec 2026 12:00:00 +0000\n"
    blocks = "".join(
        f"\nFinal-Recipient: rfc822; {r.address}\n"
        f"Original-Recipient: rfc822;{r.address}\n"
        f"Action: {r.action}\n"
        f"Status: {r.status}\n"
        "Remote-MTA: dns; in.example.com\n"
        + (f"Diagnostic-Code: smtp; {r.diagnostic}\n" if r.diagnostic else "")
        for r in rcpts
    )
    text = f"""From: MAILER-DAEMON@{REPORTING_MTA} (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: {report_id}
Date: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S +0000}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

This is a MIME-encapsulated message.

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host {REPORTING_MTA}.
I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--BOUNDARY
Content-Type: message/delivery-status

{per_message}{blocks}
--BOUNDARY
Content-Type: text/rfc822-headers

{returned}
--BOUNDARY--
"""
    return text.replace("\n", "\r\n").encode()


def arf(sent: Received, *, feedback_type: str = "abuse", report_id: str | None = None) -> bytes:
    """An ARF complaint (RFC 5965) returning ``sent`` whole, as a mailbox provider sends it."""
    report_id = report_id or f"<arf-{next(_SEQ)}@fbl.example.org>"
    original = sent.data.decode("utf-8", "replace").replace("\r\n", "\n")
    rcpt = sent.recipients[0]
    text = f"""From: fbl@fbl.example.org
To: fbl@bounce.example.net
Subject: FW: complaint
Message-ID: {report_id}
Date: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S +0000}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARFPART"

--ARFPART
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from you.

--ARFPART
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{sent.mail_from}>
Original-Rcpt-To: <{rcpt}>
Reported-Domain: example.com
Source-IP: 127.0.0.1

--ARFPART
Content-Type: message/rfc822
Content-Disposition: inline

{original}
--ARFPART--
"""
    return text.replace("\n", "\r\n").encode()


def human_mail() -> bytes:
    return (
        b"From: Ann <ann@example.org>\r\nTo: bounces@bounce.example.net\r\n"
        b"Subject: Lunch?\r\nMessage-ID: <lunch@example.org>\r\n\r\nAre you free on Friday?\r\n"
    )
