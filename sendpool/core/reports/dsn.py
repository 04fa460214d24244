"""RFC 3464 delivery status notifications: multipart/report; report-type=delivery-status.

The report's second part, message/delivery-status, holds one block of
per-message fields (Reporting-MTA, Original-Envelope-Id, Arrival-Date) and one
block per recipient (Final-Recipient, Action, Status, Diagnostic-Code,
Remote-MTA). Each recipient block is classified by its Status
(``kinds.kind_of_status``); the returned message or headers (part three)
carries the tokens that name the message.
"""

from __future__ import annotations

from email.message import Message
from itertools import chain, islice

from sendpool.core.reports.kinds import ReportKind, format_status, kind_of_status, status_code
from sendpool.core.reports.mime import (
    DIAGNOSTIC_MAX,
    ID_MAX,
    TOKEN_MAX,
    Fields,
    clean,
    field_blocks,
    header,
    parse_date,
    typed_value,
)
from sendpool.core.reports.results import RecipientResult, Report
from sendpool.core.reports.returned import loops, returned_fields, tokens

STATUS_TYPES = (
    "message/delivery-status",
    "message/global-delivery-status",  # RFC 6533 §6.2, internationalised addresses
)
RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "action", "status")


def recipient_result(block: Fields) -> RecipientResult:
    """One per-recipient block (RFC 3464 §2.3).

    Original-Recipient, when present, is the address as sendpool gave it (the
    Final-Recipient may be an alias's target), so it is the one to match.
    """
    recipient = typed_value(block.get("original-recipient")) or typed_value(
        block.get("final-recipient")
    )
    action = clean(block.get("action", ""), 64).lower().split(" ")[0] or None
    status = format_status(status_code(block.get("status")))
    diagnostic = typed_value(block.get("diagnostic-code"), DIAGNOSTIC_MAX)
    return RecipientResult(
        recipient=recipient,
        kind=kind_of_status(status, diagnostic, action),
        status=status,
        action=action,
        diagnostic=diagnostic,
        remote_mta=typed_value(block.get("remote-mta")),
    )


def describe(result: RecipientResult) -> str:
    words = [result.action or "no action", result.status or "no status"]
    return " ".join([*words, result.recipient or "(no recipient)", f"({result.kind.value})"])


def read_dsn(msg: Message, status_part: Message, max_recipients: int) -> Report:
    blocks = field_blocks(status_part)
    first = next(blocks, {})
    if any(name in first for name in RECIPIENT_FIELDS[:2]):
        # No per-message block: some MTAs open with the first recipient.
        per_message: Fields = {}
        blocks = chain([first], blocks)
    else:
        per_message = first
    wanted = (b for b in blocks if any(name in b for name in RECIPIENT_FIELDS))
    kept = list(islice(wanted, max_recipients + 1))
    truncated = len(kept) > max_recipients
    results = tuple(recipient_result(b) for b in kept[:max_recipients])
    returned = returned_fields(msg)
    envelope_id = per_message.get("original-envelope-id", "")[: TOKEN_MAX + 1]
    if results:
        more = f" (and {len(results) - 1} more)" if len(results) > 1 else ""
        reason = f"delivery status notification: {describe(results[0])}{more}"
    else:
        reason = "delivery status notification without a recipient block"
    if truncated:
        reason += f"; only the first {max_recipients} recipient blocks were read"
    return Report(
        format="dsn",
        kind=results[0].kind if results else ReportKind.UNKNOWN,
        results=results,
        tokens=tokens(envelope_id, returned, msg),
        report_id=header(msg, "Message-ID", ID_MAX),
        reported_by=typed_value(per_message.get("reporting-mta")),
        arrival=parse_date(per_message.get("arrival-date")),
        feedback_type=None,
        loop=loops(returned),
        truncated=truncated,
        reason=reason,
    )
