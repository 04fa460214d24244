"""What one delivery attempt came to, and the class of a failure as a pure function.

Classes follow docs/design.md §1.5: accepted, server failure (try another server),
throttled (the provider is at capacity: wait, do not fail), transient recipient
failure (retry with back-off) and permanent recipient failure. A refusal about
the sender's policy or reputation is a server failure (``policy_replies``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sendpool.core.policy_replies import SenderPolicy, sender_policy


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    SERVER_FAILURE = "server_failure"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    # The whole message went out and no reply came (a reset, a timeout after the
    # final dot): it may have been delivered. RFC 1047: keep its unit spent and
    # retry later, on the same server first, marked as a possible duplicate.
    UNKNOWN = "unknown"


class Stage(StrEnum):
    """Where in a delivery the reply came; it decides whose fault a failure is."""

    CONNECT = "connect"
    TLS = "tls"
    EHLO = "ehlo"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    API = "api"


SERVER_STAGES = frozenset({Stage.CONNECT, Stage.TLS, Stage.EHLO, Stage.AUTH})
TRANSACTION_STAGES = frozenset({Stage.MAIL, Stage.RCPT, Stage.DATA})
STAGE_NAMES = frozenset(s.value for s in Stage)

# RFC 4954 §6: 530 authentication required, 534 mechanism too weak,
# 535 credentials invalid, 454 temporary authentication failure. Providers also
# answer 454 (and 4.7.0) to throttle a sender: either way the server, not the
# recipient, is what failed.
SERVER_CODES = frozenset({530, 534, 535, 454})
# RFC 3463 §3.2: X.1.7 bad sender's mailbox address syntax, X.1.8 bad sender's
# system address. Of subject X.1, only these are about the sender, not the recipient.
SENDER_ADDRESS_DETAILS = frozenset({"1.7", "1.8"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result; ``reached`` says whether the server took part in it."""

    kind: OutcomeKind
    stage: Stage | None = None
    code: int | None = None
    enhanced: str | None = None
    text: str = ""
    remote_id: str | None = None
    retry_after: float | None = None

    @property
    def reached(self) -> bool:
        """Quota is spent only on attempts the server took part in."""
        return self.kind not in (OutcomeKind.SERVER_FAILURE, OutcomeKind.THROTTLED)

    @property
    def suppresses_recipient(self) -> bool:
        """A hard bounce for the address itself (RFC 3463 X.1.x is about the address).

        Never for a reply about the sender: RFC 3463 §3.8 X.7 (relay denied, policy,
        reputation) or the sender's own address (X.1.7, X.1.8), at any stage.
        """
        if self.kind is not OutcomeKind.PERMANENT or self.about_sender:
            return False
        return self.stage is Stage.RCPT or (self.enhanced or "").startswith("5.1.")

    @property
    def about_sender(self) -> bool:
        """Whether the enhanced code names the sender: its policy (X.7.x) or its address."""
        subject_detail = (self.enhanced or "").partition(".")[2]
        return subject_detail.startswith("7.") or subject_detail in SENDER_ADDRESS_DETAILS

    @property
    def policy_refusal(self) -> SenderPolicy | None:
        """On what ground an SMTP transaction reply refuses the sender, if it does."""
        if self.stage not in TRANSACTION_STAGES:
            return None
        return sender_policy(self.code, self.enhanced, self.text)

    def describe(self) -> str:
        parts = [str(self.code)] if self.code else []
        if self.enhanced and not self.text.startswith(self.enhanced):
            parts.append(self.enhanced)
        if self.text:
            parts.append(self.text)
        text = " ".join(parts) or self.kind.value
        return f"{self.stage.value}: {text}" if self.stage else text


def accepted(remote_id: str | None = None, text: str = "", code: int | None = 250) -> Outcome:
    return Outcome(OutcomeKind.ACCEPTED, Stage.DATA, code, None, text, remote_id)


def classify_smtp(
    stage: Stage, code: int | None, enhanced: str | None = None, text: str = ""
) -> OutcomeKind:
    """The class of an SMTP reply (or of no reply at all, when ``code`` is None)."""
    if code is None or stage in SERVER_STAGES:
        # No reply (refused, reset, timed out, TLS failure), or a failure before
        # any transaction began (RFC 5321 §3.1 greeting, §4.1.1.1 EHLO): the
        # server is unusable, the recipient has nothing to do with it.
        return OutcomeKind.SERVER_FAILURE
    if code in SERVER_CODES:
        return OutcomeKind.SERVER_FAILURE
    if 200 <= code < 300:
        return OutcomeKind.ACCEPTED
    if code != 421 and sender_policy(code, enhanced, text) is not None:
        # RFC 3463 §3.8: X.7 is a security or policy status, e.g. 554 5.7.1 "Relay
        # access denied" to a client without credentials, a blocklist hit, a DMARC
        # failure (5.7.26). RFC 5321 §7.7 lets a server refuse mail for any reason
        # of its own, and §4.2.2 lists "rejected for policy reasons" under 550. The
        # server refused us, whatever the recipient: failing and suppressing the
        # address for it lost every recipient of a campaign; another server tries.
        # 421 is left out: RFC 5321 §3.8, the server is closing the channel because
        # it is busy (Postfix answers "421 4.7.0 too many connections"), so it
        # stays a transient failure below, retried with back-off, never suppressing.
        return OutcomeKind.SERVER_FAILURE
    if 400 <= code < 500:
        # RFC 5321 §4.2.1: 4yz is a transient negative completion; 421 inside a
        # transaction closes the channel, but the recipient may still succeed.
        return OutcomeKind.TRANSIENT
    if code == 552:
        # RFC 5321 §4.5.3.1.10: 552 was used for "too many recipients"; clients
        # SHOULD treat it as temporary.
        return OutcomeKind.TRANSIENT
    if enhanced:
        if enhanced.startswith("4."):
            # RFC 3463 §3.1: class 4 is a persistent transient failure, whatever
            # the basic code says.
            return OutcomeKind.TRANSIENT
        if enhanced.startswith("5.2.2"):
            # RFC 3463 §3.3 X.2.2 mailbox full: the mailbox may be emptied.
            return OutcomeKind.TRANSIENT
    if 500 <= code < 600:
        return OutcomeKind.PERMANENT
    # A reply outside the protocol (1yz, 3yz where none belongs): the server
    # misbehaves, so another one should get the message.
    return OutcomeKind.SERVER_FAILURE


def smtp_outcome(stage: Stage, code: int | None, text: str, enhanced: str | None = None) -> Outcome:
    if enhanced is None and text:
        enhanced = parse_enhanced(text)
    kind = classify_smtp(stage, code, enhanced, text)
    return Outcome(kind, stage, code, enhanced, text.strip())


def parse_enhanced(text: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply's text, if any."""
    head = text.strip().split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) != 3 or parts[0] not in ("2", "4", "5"):
        return None
    if not all(p.isdigit() and 0 < len(p) <= 3 for p in parts[1:]):
        return None
    return head


def read_description(described: str) -> Outcome | None:
    """The SMTP outcome a ``describe()`` text such as "rcpt: 554 5.7.1 Relay access denied"
    was written from, classified again; None when it names no stage and reply code.
    """
    stage_name, sep, rest = described.partition(": ")
    if not sep or stage_name not in STAGE_NAMES:
        return None
    code, _, text = rest.partition(" ")
    if not (len(code) == 3 and code.isdigit()):
        return None
    return smtp_outcome(Stage(stage_name), int(code), text)


def suppression_stands(reason: str) -> bool:
    """Whether a suppression recorded with ``reason`` is still a hard bounce today.

    Only a reason read back as a reply the classifier now calls a server failure,
    or a permanent failure about the sender, is lifted; anything else, including a
    vendor's refusal (its HTTP 4xx reads as no SMTP failure at all), stands.
    """
    outcome = read_description(reason)
    if outcome is None or outcome.kind not in (OutcomeKind.SERVER_FAILURE, OutcomeKind.PERMANENT):
        return True
    return outcome.suppresses_recipient
