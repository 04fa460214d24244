"""Replies about the sender's policy or reputation: server failures, never the recipient's fault.

Each row is a reply as a relay or receiver sends it (docs/design.md §1.5): where it
came, its code, its enhanced code, its text, and what sendpool makes of it.
"""

from __future__ import annotations

import pytest

from sendpool.core.outcomes import (
    OutcomeKind,
    Stage,
    read_description,
    smtp_outcome,
    suppression_stands,
)
from sendpool.core.policy_replies import SenderPolicy, from_text, sender_policy

S, T, P = OutcomeKind.SERVER_FAILURE, OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT
M, R, D = Stage.MAIL, Stage.RCPT, Stage.DATA

# stage, code, enhanced (None: read from the text), text, kind, suppresses
TABLE = [
    # RFC 3463 §3.8, X.7: whatever the text, at MAIL, RCPT or DATA.
    (R, 554, None, "5.7.1 <bob@example.org>: Relay access denied", S, False),
    (R, 554, None, "5.7.1 <bob@example.org>: Recipient address rejected: Policy", S, False),
    (M, 554, None, "5.7.1 <news@sender.example>: Sender address rejected: Access denied", S, False),
    (D, 554, None, "5.7.1 Message rejected as spam", S, False),
    (R, 550, None, "5.7.0 Blocked", S, False),
    (R, 450, None, "4.7.0 Temporarily rejected for policy reasons", S, False),
    (D, 550, None, "5.7.26 Unauthenticated email from sender.example is not accepted", S, False),
    (D, 550, None, "5.7.1 Our system has detected that this message is likely spam", S, False),
    (M, 530, None, "5.7.0 Authentication required", S, False),
    # Without an enhanced code, or with the undefined X.0.0: known by their wording.
    (R, 554, None, "Relay access denied", S, False),
    (R, 550, None, "Relaying denied. Proper authentication required.", S, False),
    (R, 550, None, "relay not permitted", S, False),
    (R, 550, None, "Unable to relay for bob@example.org", S, False),
    (R, 550, None, "We are not permitted to relay for you", S, False),
    (M, 550, None, "Authentication required", S, False),
    (M, 553, None, "<news@sender.example>: Sender address rejected: Access denied", S, False),
    (R, 554, None, "Client host [192.0.2.7] blocked using zen.spamhaus.org", S, False),
    (R, 550, None, "5.0.0 Your IP 192.0.2.7 is listed at bl.example.net", S, False),
    (R, 550, None, "Rejected: 192.0.2.7 listed in b.barracudacentral.org", S, False),
    (D, 550, None, "Message refused because of poor reputation of the sender", S, False),
    (D, 554, None, "Message rejected under our spam policy", S, False),
    # Address errors stay address errors, even when their words look alike.
    (R, 550, None, "5.1.1 <bob@example.org>: Recipient address rejected: User unknown", P, True),
    (R, 550, None, "User not listed in the directory", P, True),
    (R, 550, None, "5.1.1 Relay access denied", P, True),  # the specific code is taken at its word
    (R, 550, None, "No such user here", P, True),
    (D, 550, None, "5.1.1 bob@example.org does not exist", P, True),
    (
        M,
        553,
        None,
        "5.1.8 <news@sender.example>: Sender address rejected: Domain not found",
        P,
        False,
    ),
    (M, 553, None, "5.1.7 Bad sender address syntax", P, False),
    # Kept: mailbox full, 552, 4xx transient, and greylisting (RFC 6647) at 4.7.1.
    (R, 552, None, "5.2.2 Mailbox full", T, False),
    (D, 552, None, "Message size exceeds fixed limit", T, False),
    (R, 451, None, "4.3.0 Temporary lookup failure", T, False),
    (R, 421, None, "4.7.0 Error: too many connections from 192.0.2.7", T, False),  # busy
    (R, 451, None, "4.7.1 Greylisted, try again in 5 minutes", T, False),
    (R, 450, None, "4.7.1 <bob@example.org>: Recipient address rejected: Graylisted", T, False),
    (D, 554, None, "5.6.0 Content refused", P, False),
    (M, 553, None, "Sender domain has no MX", P, False),
]


@pytest.mark.parametrize(("stage", "code", "enhanced", "text", "kind", "suppresses"), TABLE)
def test_reply_table(
    stage: Stage,
    code: int,
    enhanced: str | None,
    text: str,
    kind: OutcomeKind,
    suppresses: bool,
) -> None:
    outcome = smtp_outcome(stage, code, text, enhanced)
    assert (outcome.kind, outcome.suppresses_recipient) == (kind, suppresses)
    if kind is S:
        assert not outcome.reached, "the unit goes back and the attempt does not count"
        assert outcome.policy_refusal is not None


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "ground"),
    [
        (554, "5.7.1", "<a@b>: Relay access denied", SenderPolicy.RELAY),
        (
            550,
            "5.7.1",
            "Service unavailable; blocked using zen.spamhaus.org",
            SenderPolicy.BLOCKLIST,
        ),
        (550, "5.7.1", "poor reputation", SenderPolicy.REPUTATION),
        (550, "5.7.26", "DMARC policy", SenderPolicy.AUTHENTICATION),
        (550, "5.7.23", "SPF validation failed", SenderPolicy.AUTHENTICATION),
        (554, "5.7.1", "Recipient address rejected: not allowed here", SenderPolicy.POLICY),
        (550, None, "Relay access denied", SenderPolicy.RELAY),
        (550, "5.0.0", "blocklisted", SenderPolicy.BLOCKLIST),
        (550, "5.0.0", "no such user", None),
        (550, "5.1.1", "blocked using", None),
        (250, None, "Relay access denied", None),  # not a refusal at all
        (None, None, "Relay access denied", None),
        (451, "4.7.1", "greylisted", None),
        (550, "5.7", "policy", None),  # not an enhanced code: read as text, says nothing
        (550, "5.x.1", "relay access denied", SenderPolicy.RELAY),
    ],
)
def test_grounds(
    code: int | None, enhanced: str | None, text: str, ground: SenderPolicy | None
) -> None:
    assert sender_policy(code, enhanced, text) is ground


def test_text_matching_ignores_case() -> None:
    assert from_text("RELAY ACCESS DENIED") is SenderPolicy.RELAY
    assert from_text("sending suspended for this account") is SenderPolicy.REPUTATION
    assert from_text("all fine") is None


def test_policy_refusal_only_within_a_transaction() -> None:
    assert smtp_outcome(Stage.AUTH, 535, "5.7.8 bad credentials").policy_refusal is None
    assert smtp_outcome(Stage.RCPT, 554, "5.7.1 Relay access denied").policy_refusal is (
        SenderPolicy.RELAY
    )


@pytest.mark.parametrize(
    ("reason", "stands"),
    [
        ("rcpt: 554 5.7.1 <bob@example.org>: Relay access denied", False),
        ("rcpt: 554 5.7.1 <bob@example.org>: Recipient address rejected: Policy", False),
        ("rcpt: 554 Relay access denied", False),
        ("data: 550 5.7.26 Unauthenticated email is not accepted", False),
        ("mail: 553 5.1.8 <news@sender.example>: Sender address rejected", False),
        ("rcpt: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", True),
        ("rcpt: 550 No such user here", True),
        ("data: 550 5.1.1 bob@example.org does not exist", True),
        # A vendor's refusal of the address, recorded at RCPT with its HTTP status.
        ("rcpt: 422 ErrorCode 406: You tried to send to a recipient marked inactive", True),
        ("rcpt: 400 InvalidParameterValue: Missing final '@domain'", True),
        # SES's suspended account named "the email address" and was taken for the recipient's.
        ("rcpt: 400 MessageRejected: Sending suspended for this account", False),
        ("rcpt: address refused", True),  # no reply code to read
        ("permanent", True),
        ("elsewhere: 554 5.7.1 x", True),
        ("rcpt: 5x4 5.7.1 x", True),
    ],
)
def test_which_suppressions_stand(reason: str, stands: bool) -> None:
    assert suppression_stands(reason) is stands


def test_a_description_reads_back_as_its_outcome() -> None:
    original = smtp_outcome(Stage.RCPT, 554, "5.7.1 <bob@example.org>: Relay access denied")
    again = read_description(original.describe())
    assert again == original
    assert read_description("rcpt: no code") is None
