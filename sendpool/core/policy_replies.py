"""Refusals about the sender's policy or reputation, read from an SMTP reply's codes and text.

A relay that will not relay for us, a receiver that has our IP on a blocklist or
distrusts our domain, says nothing about the recipient's address: suppressing
the address for it loses a good recipient for good (docs/design.md §1.5). Such
a reply is the server's failure, and another server should carry the message.

RFC 3463 §3.8 gives these their own subject, X.7 ("security or policy status");
replies without an enhanced code are known by their wording, matched here in
lower case against a short table of the texts relays and receivers really send.
"""

from __future__ import annotations

from enum import StrEnum


class SenderPolicy(StrEnum):
    """What a refusal about the sender is about; doctor's advice depends on it."""

    RELAY = "relay"  # the relay will not relay for us: credentials or allowed senders
    BLOCKLIST = "blocklist"  # our sending address is on a DNS blocklist (RBL)
    REPUTATION = "reputation"  # the receiver distrusts our mail: reputation, spam scoring
    AUTHENTICATION = "authentication"  # SPF, DKIM or DMARC of the sender domain failed
    POLICY = "policy"  # any other X.7 refusal


# The wording of refusals that carry no enhanced code, or only the "undefined" X.0.0.
# Postfix: "Relay access denied", "Sender address rejected: Access denied",
# "Client host [ip] blocked using zen.spamhaus.org"; Exim: "relay not permitted";
# Sendmail: "Relaying denied"; Exchange: "Unable to relay"; Gmail: "poor reputation".
MARKERS: tuple[tuple[str, SenderPolicy], ...] = (
    ("relay access denied", SenderPolicy.RELAY),
    ("relaying denied", SenderPolicy.RELAY),
    ("relay not permitted", SenderPolicy.RELAY),
    ("not permitted to relay", SenderPolicy.RELAY),
    ("unable to relay", SenderPolicy.RELAY),
    ("authentication required", SenderPolicy.RELAY),
    ("sender address rejected: access denied", SenderPolicy.RELAY),
    ("blocked using", SenderPolicy.BLOCKLIST),
    ("listed at", SenderPolicy.BLOCKLIST),
    ("listed in", SenderPolicy.BLOCKLIST),
    ("blocklist", SenderPolicy.BLOCKLIST),
    ("blacklist", SenderPolicy.BLOCKLIST),
    ("poor reputation", SenderPolicy.REPUTATION),
    ("sending suspended", SenderPolicy.REPUTATION),
    ("sending paused", SenderPolicy.REPUTATION),
    ("as spam", SenderPolicy.REPUTATION),
    ("likely spam", SenderPolicy.REPUTATION),
    ("spam policy", SenderPolicy.REPUTATION),
    ("spam detected", SenderPolicy.REPUTATION),
)
# "User not listed in the directory" is about the address, not a blocklist.
NOT_MARKERS = ("not listed",)
# RFC 6647 §2.1: a greylister (typically "451 4.7.1") wants the same client to come
# back later; that is a retry of this server, not a refusal of it.
GREYLISTING = ("greylist", "graylist")

# RFC 7372 §3 (and RFC 7505 for X.7.27): the sender domain's SPF, DKIM or DMARC
# failed, e.g. Gmail's "550 5.7.26 Unauthenticated email ... is not accepted".
_AUTHENTICATION_DETAILS = frozenset({"20", "21", "22", "23", "24", "25", "26", "27"})


def _subject_detail(enhanced: str | None) -> tuple[str, str] | None:
    """RFC 3463 §2: class.subject.detail, each one to three digits."""
    parts = (enhanced or "").split(".")
    if len(parts) != 3 or parts[0] not in ("2", "4", "5"):
        return None
    if not all(p.isdigit() and len(p) <= 3 for p in parts[1:]):
        return None
    return parts[1], parts[2]


def greylisted(text: str) -> bool:
    low = text.lower()
    return any(g in low for g in GREYLISTING)


def from_text(text: str) -> SenderPolicy | None:
    """What the wording of a refusal says about the sender, if anything."""
    low = text.lower()
    if any(n in low for n in NOT_MARKERS) or greylisted(low):
        return None
    return next((kind for marker, kind in MARKERS if marker in low), None)


def sender_policy(code: int | None, enhanced: str | None, text: str) -> SenderPolicy | None:
    """Whether a negative reply (4yz or 5yz) refuses the sender, and on what ground.

    An enhanced code of subject 7 decides (RFC 3463 §3.8); any other specific
    enhanced code (an address, a mailbox, the system) is taken at its word, and only
    a reply without one, or with the undefined X.0.0 (RFC 3463 §3.1), is read.
    """
    if code is None or not 400 <= code < 600 or greylisted(text):
        return None
    parts = _subject_detail(enhanced)
    if parts is None:
        return from_text(text)
    subject, detail = parts
    if subject == "7":
        if detail in _AUTHENTICATION_DETAILS:
            return SenderPolicy.AUTHENTICATION
        return from_text(text) or SenderPolicy.POLICY
    if (subject, detail) == ("0", "0"):
        return from_text(text)
    return None
