"""What a report says happened to a recipient, and the RFC 3463 status code that decides it.

A DSN's ``Action`` says what the reporting MTA did, not why: a message that
expired after days of ``4.7.0`` deferrals is reported ``Action: failed``, and
suppressing its recipient for it would punish the address for the sending
server's reputation. So the kind is read from the status code (RFC 3463), and
the diagnostic text only where the code is missing or says nothing specific.
"""

from __future__ import annotations

import re
from enum import StrEnum

from sendpool.core.policy_replies import from_text


class ReportKind(StrEnum):
    """The class of a report (or of one recipient in it); the event it becomes depends on it."""

    HARD = "hard"  # 5.1.x (bad mailbox or domain, but not 5.1.7/5.1.8, the sender), 5.2.1, ...
    SOFT = "soft"  # 4.x.x (not 4.7.x), 5.2.2 mailbox full, 5.3.x, ...
    REPUTATION = "reputation"  # 4.7.x / 5.7.x and well-known policy texts: the sending server
    COMPLAINT = "complaint"  # ARF Feedback-Type abuse | fraud
    DELAY = "delay"  # Action: delayed (a warning, not a bounce)
    DELIVERED = "delivered"  # Action: delivered | relayed | expanded
    AUTO_REPLY = "auto_reply"  # RFC 3834 auto-replies, out-of-office texts: ignored
    UNKNOWN = "unknown"  # a report that could not be classified: kept for an operator
    NOT_A_REPORT = "not_a_report"  # ordinary mail: left alone


# RFC 3463 §2: class.subject.detail; qmail writes it as "(#5.1.1)".
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# RFC 5321 §4.2: a basic reply code opening the diagnostic ("550 ...", "550-...").
BASIC = re.compile(r"^\s*([45])\d\d(?:[\s-]|$)")

SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})

# Wording that names the recipient's address, read only when the code says nothing
# specific (none, or X.0.0): Postfix "User unknown in local recipient table",
# Exim "Unrouteable address", Sendmail "User unknown", Exchange "Recipient not found".
HARD_TEXTS = (
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "does not exist",
    "doesn't exist",
    "unknown recipient",
    "recipient unknown",
    "recipient not found",
    "invalid recipient",
    "invalid mailbox",
    "mailbox not found",
    "mailbox unavailable",
    "recipient address rejected",
    "unrouteable address",
    "no mailbox here",
    "user not found",
    "account disabled",
    "account has been disabled",
    "address rejected",
)
# "Sender address rejected" is about us, not the recipient (policy_replies covers the
# access-denied case; a sender domain not found is not the recipient's fault either).
NOT_HARD_TEXTS = ("sender address rejected",)
FULL_TEXTS = (
    "mailbox full",
    "mailbox is full",
    "over quota",
    "quota exceeded",
    "exceeded storage",
    "insufficient storage",
)


def status_code(text: str | None) -> tuple[str, str, str] | None:
    """The first RFC 3463 code in ``text`` as (class, subject, detail), without leading zeros."""
    match = ENHANCED.search(text or "")
    if match is None:
        return None
    klass, subject, detail = match.groups()
    return klass, str(int(subject)), str(int(detail))


def format_status(code: tuple[str, str, str] | None) -> str | None:
    return None if code is None else ".".join(code)


def _by_text(klass: str, text: str) -> ReportKind:
    """A failure whose code says nothing specific, read by its wording."""
    if any(t in text for t in FULL_TEXTS):
        return ReportKind.SOFT
    if klass == "4":
        # RFC 3463 §3.1: class 4 is transient, whatever the text.
        return ReportKind.SOFT
    if any(t in text for t in HARD_TEXTS) and not any(t in text for t in NOT_HARD_TEXTS):
        return ReportKind.HARD
    if text.lstrip().startswith("552"):
        # RFC 5321 §4.5.3.1.10: 552 is to be treated as temporary.
        return ReportKind.SOFT
    return ReportKind.UNKNOWN


def _by_code(subject: str, detail: str) -> ReportKind | None:
    """A permanent failure (class 5) by its subject and detail; None when unspecific."""
    if subject == "1":
        # RFC 3463 §3.2: X.1.7 and X.1.8 are the sender's address, the rest the recipient's.
        return ReportKind.REPUTATION if detail in ("7", "8") else ReportKind.HARD
    if subject == "2":
        # §3.3: X.2.1 mailbox disabled; X.2.2 full, X.2.3 too long, X.2.4 list expansion.
        return ReportKind.HARD if detail == "1" else ReportKind.SOFT
    if subject == "4":
        # §3.5: X.4.4 unable to route (no such domain, no MX); the rest are network trouble.
        return ReportKind.HARD if detail == "4" else ReportKind.SOFT
    if subject in ("3", "5", "6"):
        # §3.4 mail system, §3.6 protocol, §3.7 content: about the message or a system,
        # not the address; they suppress only if they repeat.
        return ReportKind.SOFT
    return None


def kind_of_status(status: str | None, diagnostic: str | None, action: str | None) -> ReportKind:
    """The kind of one recipient's result, by its RFC 3463 code, never by ``Action`` alone.

    ``delayed`` is a warning and ``delivered``/``relayed``/``expanded`` a success
    (RFC 3464 §2.3.3); any other action (``failed``, none, nonsense) is read by its
    code. Subject 7 (RFC 3463 §3.8), and the sender-policy wording
    ``policy_replies`` knows ("blocked using", "relay access denied") under any
    code, are about the sending server: a receiver that blocklists us is known to
    answer "550 5.1.1" too, and suppressing the address for it loses it for good.
    """
    act = (action or "").strip().lower()
    if act == "delayed":
        return ReportKind.DELAY
    if act in SUCCESS_ACTIONS:
        return ReportKind.DELIVERED
    text = (diagnostic or "").lower()
    code = status_code(status)
    if code is None or code[1:] == ("0", "0"):
        # Exim reports "Status: 5.0.0" with the real "550 5.1.1" in the diagnostic.
        code = status_code(text) or code
    if from_text(text) is not None or (code is not None and code[1] == "7"):
        return ReportKind.REPUTATION
    if code is None:
        basic = BASIC.match(text)
        return _by_text(basic.group(1), text) if basic else ReportKind.UNKNOWN
    klass, subject, detail = code
    if klass == "2":
        return ReportKind.DELIVERED
    if klass == "4":
        return ReportKind.SOFT
    return _by_code(subject, detail) or _by_text(klass, text)
