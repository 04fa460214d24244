"""A server's bounce and feedback-loop (FBL) mailboxes: where its bounces and complaints land.

Stored in the sending_servers.bounce_handler / fbl_handler JSON columns. The
mailbox password is sealed with the SecretBox inside that JSON and, like every
other secret, is write-only: views say whether it is set, never what it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from sendpool.secretbox import SecretBox
from sendpool.services.errors import FieldError, pairs_of
from sendpool.services.servers.fields import HANDLERS, MAILBOX_SECRET, MAX_SECRET, MailboxHandler
from sendpool.store.tables import SendingServer, table

__all__ = [
    "HANDLERS",
    "HandlerView",
    "MailboxHandler",
    "handler_view",
    "handler_views",
    "merge_handler",
    "stored_handlers",
]

SEALED = "password_sealed"


@dataclass(frozen=True, slots=True)
class HandlerView:
    settings: dict[str, Any]
    password_set: bool


def handler_view(stored: Mapping[str, Any] | None) -> HandlerView:
    data = dict(stored or {})
    sealed = data.pop(SEALED, None)
    settings = MailboxHandler.model_validate(data).model_dump() if data else {}
    return HandlerView(settings or MailboxHandler().model_dump(), bool(sealed))


def merge_handler(
    box: SecretBox,
    field: str,
    stored: Mapping[str, Any] | None,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """``changes`` holds the mailbox keys and ``password`` (None: clear; absent: keep).

    Raises FieldError naming ``field.key`` for each bad key.
    """
    current = dict(stored or {})
    sealed = current.pop(SEALED, None)
    given = {k: v for k, v in changes.items() if k != MAILBOX_SECRET}
    errors: list[tuple[str, str]] = []
    settings: dict[str, Any] | None = None
    try:
        settings = MailboxHandler.model_validate({**current, **given}).model_dump()
    except ValidationError as exc:
        errors += pairs_of(exc, field)
    if MAILBOX_SECRET in changes:
        password = changes[MAILBOX_SECRET]
        if password is None:
            sealed = None
        elif not isinstance(password, str) or not 0 < len(password) <= MAX_SECRET:
            errors.append((f"{field}.{MAILBOX_SECRET}", f"must be 1 to {MAX_SECRET} characters"))
        else:
            sealed = box.seal({MAILBOX_SECRET: password})
    if settings is not None and settings["enabled"]:
        errors += [
            (f"{field}.{key}", "required while the handler is enabled")
            for key in ("host", "port", "username")
            if settings[key] is None
        ]
        if not sealed:
            errors.append((f"{field}.{MAILBOX_SECRET}", "required while the handler is enabled"))
    if errors:
        raise FieldError(errors)
    assert settings is not None
    out = dict(settings)
    if sealed:
        out[SEALED] = sealed
    return out


def stored_handlers(conn: Connection, server_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each server's stored mailboxes by id, as the JSON columns hold them (None: never set)."""
    T = table(SendingServer)
    rows = conn.execute(
        select(T.c.id, T.c.bounce_handler, T.c.fbl_handler).where(T.c.id.in_(list(server_ids)))
    )
    return {
        int(r.id): {"bounce_handler": r.bounce_handler, "fbl_handler": r.fbl_handler} for r in rows
    }


def handler_views(conn: Connection, server_ids: Sequence[int]) -> dict[int, dict[str, HandlerView]]:
    """What each server's mailboxes show: their settings and whether a password is set."""
    stored = stored_handlers(conn, server_ids)
    return {i: {h: handler_view(v[h]) for h in HANDLERS} for i, v in stored.items()}


def handlers_by_uid(conn: Connection, uids: Sequence[str]) -> dict[str, dict[str, HandlerView]]:
    """The mailboxes of the servers with these uids, as views (passwords: only whether set)."""
    T = table(SendingServer)
    rows = conn.execute(select(T.c.id, T.c.uid).where(T.c.uid.in_(list(uids))))
    ids = {int(r.id): str(r.uid) for r in rows}
    return {ids[i]: views for i, views in handler_views(conn, list(ids)).items()}
