"""kind_of_status: by the RFC 3463 code, never by Action alone; the text only where the code is mute."""

from __future__ import annotations

import pytest

from sendpool.core.reports import ReportKind as K
from sendpool.core.reports import kind_of_status
from sendpool.core.reports.kinds import format_status, status_code

F = "failed"

# status, diagnostic, action, kind
TABLE = [
    # Action decides only for warnings and successes (RFC 3464 §2.3.3).
    ("4.4.1", "connect to mx: Connection timed out", "delayed", K.DELAY),
    ("4.7.0", "421 4.7.0 try later", "Delayed", K.DELAY),
    ("2.0.0", "250 2.0.0 Ok", "delivered", K.DELIVERED),
    ("2.0.0", "250 2.0.0 Ok: queued", "relayed", K.DELIVERED),
    (None, None, "expanded", K.DELIVERED),
    ("2.1.5", None, F, K.DELIVERED),  # a success code under a failed action
    # RFC 3463 §3.2 X.1: the address, except X.1.7 / X.1.8, the sender's.
    ("5.1.1", "550 5.1.1 <a@b>: Recipient address rejected: User unknown", F, K.HARD),
    ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", F, K.HARD),
    ("5.1.2", "550 5.1.2 Host unknown", F, K.HARD),
    ("5.1.0", None, F, K.HARD),
    ("5.1.7", "553 5.1.7 The sender address is malformed", F, K.REPUTATION),
    ("5.1.8", "553 5.1.8 Domain of sender address does not exist", F, K.REPUTATION),
    # §3.3 X.2: 5.2.1 disabled is hard; full, too long, list trouble are soft.
    ("5.2.1", "550 5.2.1 The email account is disabled", F, K.HARD),
    ("5.2.2", "552 5.2.2 Mailbox full", F, K.SOFT),
    ("5.2.3", "552 5.2.3 Message too large", F, K.SOFT),
    ("5.2.0", None, F, K.SOFT),
    # §3.4 - §3.7
    ("5.3.0", "554 5.3.0 Mail system full", F, K.SOFT),
    ("5.4.4", "554 5.4.4 Unable to route: no MX", F, K.HARD),
    ("5.4.6", "554 5.4.6 Routing loop detected", F, K.SOFT),
    ("5.5.2", "500 5.5.2 Syntax error", F, K.SOFT),
    ("5.6.0", "554 5.6.0 Content rejected", F, K.SOFT),
    # §3.8 X.7, under any action and text: the sending server.
    ("5.7.1", "554 5.7.1 Relay access denied", F, K.REPUTATION),
    ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted", F, K.REPUTATION),
    ("4.7.0", "421 4.7.0 Messages temporarily deferred", F, K.REPUTATION),
    ("4.7.1", "451 4.7.1 Greylisted, try again", F, K.REPUTATION),  # expired while greylisted
    ("5.7.1", "550 5.7.1 user unknown", F, K.REPUTATION),
    # Sender-policy wording under a specific code: a blocklist is not a dead address.
    (
        "5.1.1",
        "550 5.1.1 Client host [203.0.113.10] blocked using zen.spamhaus.org",
        F,
        K.REPUTATION,
    ),
    ("5.1.1", "550 5.1.1 Relay access denied", F, K.REPUTATION),
    ("4.2.2", "452 4.2.2 listed at bl.example", F, K.REPUTATION),
    ("5.1.1", "550 5.1.1 User not listed in directory", F, K.HARD),  # "not listed" is no blocklist
    # Class 4, not subject 7: transient, whatever came after.
    ("4.2.2", "452 4.2.2 Mailbox full", F, K.SOFT),
    ("4.4.7", "Delivery time expired", F, K.SOFT),
    ("4.0.0", "user unknown", F, K.SOFT),
    ("4.1.1", None, None, K.SOFT),
    # The undefined X.0.0: the diagnostic's own code first (Exim), then its wording.
    ("5.0.0", "550 5.1.1 <bob@example.net>: User unknown", F, K.HARD),
    ("5.0.0", "550 5.7.1 Message rejected", F, K.REPUTATION),
    ("5.0.0", "550 Unrouteable address", F, K.HARD),
    ("5.0.0", "550 Mailbox is full", F, K.SOFT),
    ("5.0.0", "552 Message size exceeds maximum", F, K.SOFT),  # RFC 5321 §4.5.3.1.10
    ("5.0.0", "550 Sender address rejected: Domain not found", F, K.UNKNOWN),
    ("5.0.0", "550 Administrative prohibition", F, K.UNKNOWN),
    ("5.0.0", None, F, K.UNKNOWN),
    ("4.0.0", None, F, K.SOFT),
    # No status at all: a basic reply code in the diagnostic, then its wording.
    (None, "smtp; 550 5.1.1 user unknown", F, K.HARD),
    (None, "550 No such user here", F, K.HARD),
    (None, "550-Requested action not taken: mailbox unavailable", F, K.HARD),
    (None, "450 Try again later", F, K.SOFT),
    (None, "552 Too many recipients", F, K.SOFT),
    (None, "554 blocked using bl.example", F, K.REPUTATION),
    (None, "Recipient unknown", F, K.UNKNOWN),  # no code at all: not guessed
    (None, None, F, K.UNKNOWN),
    (None, None, None, K.UNKNOWN),
    ("garbage", "no code here", "nonsense", K.UNKNOWN),
    # Subjects RFC 3463 does not define (X.8 and up).
    ("5.9.1", None, F, K.UNKNOWN),
    ("5.9.1", "550 5.9.1 No such user", F, K.HARD),
    # Leading zeros and surrounding text are tolerated.
    ("5.01.001 (bad destination mailbox)", None, F, K.HARD),
]


@pytest.mark.parametrize(("status", "diagnostic", "action", "kind"), TABLE)
def test_kind_of_status(
    status: str | None, diagnostic: str | None, action: str | None, kind: K
) -> None:
    assert kind_of_status(status, diagnostic, action) is kind


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("5.1.1", "5.1.1"),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
        ("550-5.7.26 Unauthenticated", "5.7.26"),
        ("5.01.001", "5.1.1"),
        ("host [192.0.2.5] said nothing", None),  # an IP address is no status code
        ("2.3.4.5", None),
        ("10.4.1.2", None),
        ("6.1.1", None),
        ("5.1.1234", None),
        ("5.1.1.", "5.1.1"),  # a full stop after the code
        ("", None),
        (None, None),
    ],
)
def test_status_code_is_read_from_text(text: str | None, code: str | None) -> None:
    assert format_status(status_code(text)) == code


def test_report_kinds_are_the_stored_words() -> None:
    assert [k.value for k in K] == [
        "hard",
        "soft",
        "reputation",
        "complaint",
        "delay",
        "delivered",
        "auto_reply",
        "unknown",
        "not_a_report",
    ]
