"""Unsubscribe by mail: ``List-Unsubscribe: <mailto:unsubscribe+TOKEN@bounce-domain>``.

RFC 2369 §3.2 lets a recipient unsubscribe by sending mail to the address the
header names; mail clients do so from their "unsubscribe" button when the
one-click URL (RFC 8058) is not used. That address is on the bounce domain, so
the inbound listener already takes its mail; the handler asks here first,
before it treats a mail as a report.

The token names the subscriber and the list and carries a MAC under the key
derived for unsubscribing (``secretbox.UNSUBSCRIBE_PURPOSE``): anyone can send
mail to the address, and a token that does not verify (``forged``) changes
nothing, so nobody can unsubscribe an address they were not sent. What the
mail says is never read: the address alone is the request, as RFC 2369 has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from sendpool.core.return_path import token_of_address
from sendpool.core.unsubscribe import read_unsubscribe_token
from sendpool.errors import NotFoundError
from sendpool.services.lists.unsubscribe import unsubscribe

LOCAL_PART = "unsubscribe"
SOURCE = "mailto"


@dataclass(frozen=True, slots=True)
class MailtoOutcome:
    """What a mail to ``unsubscribe+TOKEN@...`` did: applied, duplicate, forged or unmatched."""

    outcome: str
    note: str


def unsubscribe_addresses(recipients: Iterable[str]) -> list[str]:
    """The recipients whose local part is ``unsubscribe``, with or without a ``+TOKEN``."""
    return [r for r in recipients if _is_unsubscribe(r)]


def _is_unsubscribe(address: str) -> bool:
    text = address.strip().strip("<>").strip()
    local, at, _domain = text.rpartition("@")
    base = local.partition("+")[0]
    # Some MTAs fold the case of local parts; the token survives that (base32).
    return bool(at) and base.lower() == LOCAL_PART


def unsubscribe_by_mail(
    conn: Connection, addresses: list[str], key: bytes, *, source: str, now: datetime
) -> MailtoOutcome:
    """Unsubscribe whom each verified token names, in the caller's transaction.

    ``addresses`` are the envelope recipients ``unsubscribe_addresses`` kept.
    """
    tokens = [token_of_address(a) for a in addresses]
    named = [read_unsubscribe_token(t, key) if t is not None else None for t in tokens]
    verified = list(dict.fromkeys(n for n in named if n is not None))
    if not verified:
        if _has_plus(addresses):
            return MailtoOutcome(
                "forged",
                f"{source}: unsubscribe mail whose token fails the MAC (forged?); nothing changed",
            )
        return MailtoOutcome(
            "unmatched", f"{source}: unsubscribe mail without a token; nothing changed"
        )
    done: list[str] = []
    already: list[str] = []
    unknown = 0
    for subscriber_id, list_id in verified:
        try:
            result = unsubscribe(
                conn, subscriber_id=subscriber_id, list_id=list_id, source=SOURCE, now=now
            )
        except NotFoundError:
            unknown += 1  # a subscriber or list deleted since the message was sent
            continue
        line = f"{result.email} from list {result.list_name}"
        (done if result.changed else already).append(line)
    if done:
        note = f"{source}: unsubscribed by mail: {'; '.join(done)}"
        if already:
            note += f" (already unsubscribed: {'; '.join(already)})"
        return MailtoOutcome("applied", note)
    if already:
        return MailtoOutcome(
            "duplicate", f"{source}: {'; '.join(already)} already unsubscribed; duplicate"
        )
    return MailtoOutcome(
        "unmatched",
        f"{source}: unsubscribe token names {unknown} subscriber(s) no longer on their list; "
        "nothing changed",
    )


def _has_plus(addresses: list[str]) -> bool:
    """A ``+`` after ``unsubscribe``: a token was meant, even one of the wrong form."""
    return any("+" in a.rpartition("@")[0] for a in addresses)
