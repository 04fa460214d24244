"""Reports that come back after a send, classified: DSNs, ARF complaints, auto-replies.

``classify`` is the one entry point (docs/design.md §6). It is pure: bytes in, a
``Report`` out, and it never raises, whatever the input.
"""

from __future__ import annotations

from sendpool.core.reports.classify import classify
from sendpool.core.reports.kinds import ReportKind, kind_of_status
from sendpool.core.reports.results import RecipientResult, Report

__all__ = ["RecipientResult", "Report", "ReportKind", "classify", "kind_of_status"]
