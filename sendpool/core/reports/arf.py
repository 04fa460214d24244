"""RFC 5965 feedback reports (ARF): multipart/report; report-type=feedback-report.

A mailbox provider's feedback loop (Yahoo, AOL, Comcast, Mail.ru ...) sends one
when a recipient marks a message as spam. The second part, message/feedback-report,
names the Feedback-Type; the third returns the message or its headers.

Only ``abuse`` (unsolicited mail, the "this is spam" button) and ``fraud``
(phishing) are complaints (RFC 5965 §7.3). The other registered types are not
a recipient's complaint and are kept as UNKNOWN, for an operator to read:
``not-spam`` (the recipient says it is *not* spam), ``virus`` (the message
carried malware), ``other``, and ``auth-failure`` (RFC 6591, an SPF or DKIM
failure report).
"""

from __future__ import annotations

from email.message import Message

from sendpool.core.reports.kinds import ReportKind
from sendpool.core.reports.mime import (
    ID_MAX,
    address_of,
    clean,
    domain_of,
    field_blocks,
    header,
    parse_date,
    typed_value,
)
from sendpool.core.reports.results import RecipientResult, Report
from sendpool.core.reports.returned import loops, returned_fields, tokens

FEEDBACK_TYPE = "message/feedback-report"
COMPLAINT_TYPES = frozenset({"abuse", "fraud"})


def read_arf(msg: Message, feedback_part: Message) -> Report:
    fields = next(field_blocks(feedback_part), {})
    feedback_type = clean(fields.get("feedback-type", ""), 64).lower() or None
    complaint = feedback_type in COMPLAINT_TYPES
    kind = ReportKind.COMPLAINT if complaint else ReportKind.UNKNOWN
    returned = returned_fields(msg)
    # Original-Rcpt-To is optional (RFC 5965 §3.2) and often left out; the returned
    # message's To then names the recipient, unless the provider redacted it.
    recipient = address_of(fields.get("original-rcpt-to")) or address_of(returned.get("to"))
    if complaint:
        reason = f"feedback report: Feedback-Type {feedback_type}, a complaint"
    else:
        reason = f"feedback report: Feedback-Type {feedback_type or '(none)'} is not a complaint"
    return Report(
        format="arf",
        kind=kind,
        results=(RecipientResult(recipient, kind, None, None, None, None),),
        tokens=tokens(None, returned, msg),
        report_id=header(msg, "Message-ID", ID_MAX),
        # Reported-Domain names the domain complained about (ours), not the reporter.
        reported_by=typed_value(fields.get("reporting-mta")) or domain_of(header(msg, "From")),
        # "Received-Date" is the field's name in drafts of ARF that some still send.
        arrival=parse_date(fields.get("arrival-date") or fields.get("received-date")),
        feedback_type=feedback_type,
        loop=loops(returned),
        truncated=False,
        reason=reason,
    )
