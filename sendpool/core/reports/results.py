"""What the classifier tells of a report: one result per recipient, and the report as a whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sendpool.core.reports.kinds import ReportKind


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One per-recipient block of a DSN (or the one recipient an ARF or heuristic names)."""

    recipient: str | None  # Final-Recipient / Original-Recipient address (type prefix stripped)
    kind: ReportKind
    status: str | None  # RFC 3463 code "5.1.1"
    action: str | None  # failed | delayed | delivered | relayed | expanded
    diagnostic: str | None  # Diagnostic-Code text (type prefix stripped), <= 1000 chars
    remote_mta: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """A classified report; verifying its tokens and applying it is the caller's part."""

    format: str  # "dsn" | "arf" | "auto_reply" | "heuristic" | "none"
    kind: ReportKind  # the overall kind (first recipient's, or the ARF / auto-reply kind)
    results: tuple[RecipientResult, ...]
    # Candidate return-path tokens, in this order, deduplicated, each <= 64 chars:
    # Original-Envelope-Id, the X-Sendpool-Message header of the returned message or
    # headers, the +TOKEN of the returned Return-Path / To.
    tokens: tuple[str, ...]
    report_id: str | None  # the report's own Message-ID (for deduplication), <= 255 chars
    reported_by: str | None  # Reporting-MTA, or ARF Reported-Domain / Source / From domain
    arrival: datetime | None  # Arrival-Date, aware UTC; None if absent or unreadable
    feedback_type: str | None  # ARF Feedback-Type
    loop: bool  # the returned message is itself a report or an auto-reply
    truncated: bool  # more than max_recipients per-recipient blocks: the rest ignored
    reason: str  # why this classification, in words, for logs and `bounces classify`
