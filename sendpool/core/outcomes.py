"""What one delivery attempt came to, and the class of a failure as a pure function.

Classes follow docs/design.md §1: accepted, server failure (try another server),
throttled (the provider is at capacity: wait, do not fail), transient recipient
failure (retry with back-off) and permanent recipient failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"
    SERVER_FAILURE = "server_failure"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


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

# RFC 4954 §6: 530 authentication required, 534 mechanism too weak,
# 535 credentials invalid, 454 temporary authentication failure. Providers also
# answer 454 (and 4.7.0) to throttle a sender: either way the server, not the
# recipient, is what failed.
SERVER_CODES = frozenset({530, 534, 535, 454})


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
        """A hard bounce for the address itself (RFC 3463 X.1.x is about the address)."""
        if self.kind is not OutcomeKind.PERMANENT:
            return False
        return self.stage is Stage.RCPT or (self.enhanced or "").startswith("5.1.")

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


def classify_smtp(stage: Stage, code: int | None, enhanced: str | None = None) -> OutcomeKind:
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
    return Outcome(classify_smtp(stage, code, enhanced), stage, code, enhanced, text.strip())


def parse_enhanced(text: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply's text, if any."""
    head = text.strip().split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) != 3 or parts[0] not in ("2", "4", "5"):
        return None
    if not all(p.isdigit() and 0 < len(p) <= 3 for p in parts[1:]):
        return None
    return head
