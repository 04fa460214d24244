"""The one entry point: raw bytes of a mail in, a classified ``Report`` out, never an exception.

The mail is parsed with the standard library's ``compat32`` policy: it keeps
going on broken MIME (recording defects instead of raising), never builds the
structured header objects of the ``default`` policy (whose parser has raised
on hostile addresses), and is the faster of the two. Formats are tried from
the most to the least explicit: a delivery-status part (RFC 3464), a
feedback-report part (RFC 5965), bounce wording (``heuristic``), automatic-reply
marks (RFC 3834); anything else is not a report.

Whatever the input, ``classify`` returns: a mail that the parser or the reading
cannot survive (nesting deep enough to exhaust the stack, say) is UNKNOWN, with
the error named in the reason.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from sendpool.core.reports.arf import FEEDBACK_TYPE, read_arf
from sendpool.core.reports.auto_reply import auto_reply_reason
from sendpool.core.reports.dsn import STATUS_TYPES, read_dsn
from sendpool.core.reports.heuristic import read_heuristic
from sendpool.core.reports.kinds import ReportKind
from sendpool.core.reports.mime import ID_MAX, first_part, header
from sendpool.core.reports.results import Report
from sendpool.core.reports.returned import loops, returned_fields, tokens

MAX_BYTES = 10 * 1024 * 1024  # report parts come first; a longer tail is a returned message


def _plain(msg: Message | None, fmt: str, kind: ReportKind, reason: str) -> Report:
    returned = returned_fields(msg) if msg is not None else {}
    return Report(
        format=fmt,
        kind=kind,
        results=(),
        tokens=tokens(None, returned, msg) if msg is not None else (),
        report_id=header(msg, "Message-ID", ID_MAX) if msg is not None else None,
        reported_by=None,
        arrival=None,
        feedback_type=None,
        loop=loops(returned),
        truncated=False,
        reason=reason,
    )


def _classify(raw: bytes, max_recipients: int, max_bytes: int) -> Report:
    if not raw.strip():
        return _plain(None, "none", ReportKind.NOT_A_REPORT, "empty input")
    msg = BytesParser(policy=compat32).parsebytes(raw[:max_bytes])
    status_part = first_part(msg, *STATUS_TYPES)
    if status_part is not None:
        return read_dsn(msg, status_part, max_recipients)
    feedback_part = first_part(msg, FEEDBACK_TYPE)
    if feedback_part is not None:
        return read_arf(msg, feedback_part)
    bounce = read_heuristic(msg, max_recipients)
    if bounce is not None:
        return bounce
    auto = auto_reply_reason(msg)
    if auto is not None:
        return _plain(msg, "auto_reply", ReportKind.AUTO_REPLY, f"automatic reply: {auto}")
    return _plain(
        msg,
        "none",
        ReportKind.NOT_A_REPORT,
        "no delivery-status or feedback-report part, no bounce wording, no automatic-reply mark",
    )


def classify(raw: bytes, *, max_recipients: int = 1000, max_bytes: int = MAX_BYTES) -> Report:
    """Classify a mail that came back (DSN, ARF, auto-reply, other bounce, or ordinary mail).

    At most ``max_recipients`` per-recipient results are kept (``truncated`` says
    when there were more) and at most ``max_bytes`` of the input are read.
    """
    try:
        return _classify(raw, max(0, max_recipients), max(0, max_bytes))
    except Exception as exc:  # never raise: see the module's docstring
        return _plain(None, "none", ReportKind.UNKNOWN, f"unreadable mail: {type(exc).__name__}")
