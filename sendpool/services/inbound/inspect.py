"""A report traced by hand: its class, and the message and server it names, changing nothing.

``sendpool bounces classify`` runs here. It classifies as the inbound path does
(the core's ``classify``), then tries each token the report carries, checked
with the return-path key, so what it prints is what the handler would act on;
it writes nothing and applies nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from sendpool.config import Settings
from sendpool.core.reports import Report, classify
from sendpool.core.return_path import read_token
from sendpool.secretbox import RETURN_PATH_PURPOSE, SecretBox, key_file_for
from sendpool.store.tables import Customer, Message, SendingServer


@dataclass(frozen=True, slots=True)
class Trace:
    """Which message a report names, if any token verifies."""

    token: str  # verified | forged | none | unchecked (no key to check it with)
    message_uid: str | None = None
    recipient: str | None = None
    server_uid: str | None = None
    server_name: str | None = None
    customer_name: str | None = None
    note: str = ""


def return_path_key(box: SecretBox) -> bytes:
    """The key the return-path tokens are made with, derived from the secret key."""
    return box.derive(RETURN_PATH_PURPOSE)


def reading_key(settings: Settings) -> bytes | None:
    """The return-path key from the secret key the workers use; never creates a key file."""
    if settings.secret_key:
        return return_path_key(SecretBox(settings.secret_key.encode()))
    path = key_file_for(settings.database_url)
    if not path.exists():
        return None
    return return_path_key(SecretBox(path.read_bytes().strip()))


def trace(conn: Connection, tokens: Iterable[str], key: bytes | None) -> Trace:
    """The first token made with ``key`` that names a stored message."""
    tried = list(tokens)
    if not tried:
        return Trace("none", note="the report carries no return-path token")
    if key is None:
        return Trace("unchecked", note="no secret key here: the tokens cannot be checked")
    for token in tried:
        message_id = read_token(token, key)
        if message_id is None:
            continue
        row = conn.execute(
            select(
                Message.uid, Message.recipient, SendingServer.uid, SendingServer.name, Customer.name
            )
            .outerjoin(SendingServer, SendingServer.id == Message.server_id)
            .outerjoin(Customer, Customer.id == Message.customer_id)
            .where(Message.id == message_id)
        ).first()
        if row is None:
            return Trace("verified", note=f"token {token} names message {message_id}, not stored")
        uid, recipient, server_uid, server_name, customer = row
        return Trace("verified", uid, recipient, server_uid, server_name, customer)
    shown = ", ".join(tried)
    return Trace("forged", note=f"no token was made with this key ({shown})")


def inspect_report(conn: Connection, raw: bytes, key: bytes | None) -> tuple[Report, Trace]:
    """Classify ``raw`` and trace it to its message; reads only."""
    report = classify(raw)
    return report, trace(conn, report.tokens, key)


def inspect_untraced(raw: bytes, why: str) -> tuple[Report, Trace]:
    """Classify ``raw`` where no database can be read: the class, but no message."""
    report = classify(raw)
    state = "unchecked" if report.tokens else "none"
    return report, Trace(state, note=why)
