"""A server's bounce and feedback-loop (FBL) mailboxes: where its bounces and complaints land.

Stored in the sending_servers.bounce_handler / fbl_handler JSON columns. The
mailbox password is sealed with the SecretBox inside that JSON and, like every
other secret, is write-only: views say whether it is set, never what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sendpool.secretbox import SecretBox
from sendpool.services.errors import FieldError
from sendpool.services.servers.fields import MAX_SECRET, errors_of

HANDLERS = ("bounce_handler", "fbl_handler")
SEALED = "password_sealed"


class MailboxHandler(BaseModel):
    """An IMAP or POP3 mailbox that sendpool reads bounces or complaints from."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    protocol: Literal["imap", "pop3"] = "imap"
    host: str | None = Field(None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int | None = Field(None, ge=1, le=65535)
    encryption: Literal["none", "starttls", "tls"] = "tls"
    username: str | None = Field(None, min_length=1, max_length=320)
    mailbox: str = Field("INBOX", min_length=1, max_length=200)


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
    given = {k: v for k, v in changes.items() if k != "password"}
    errors: list[tuple[str, str]] = []
    try:
        settings = MailboxHandler.model_validate({**current, **given})
    except ValidationError as exc:
        errors += [(f"{field}.{f}", m) for f, m in errors_of(exc)]
        settings = None
    if "password" in changes:
        password = changes["password"]
        if password is None:
            sealed = None
        elif not isinstance(password, str) or not 0 < len(password) <= MAX_SECRET:
            errors.append((f"{field}.password", f"must be 1 to {MAX_SECRET} characters"))
        else:
            sealed = box.seal({"password": password})
    if settings is not None and settings.enabled:
        errors += [
            (f"{field}.{key}", "required while the handler is enabled")
            for key in ("host", "port", "username")
            if getattr(settings, key) is None
        ]
        if not sealed:
            errors.append((f"{field}.password", "required while the handler is enabled"))
    if errors:
        raise FieldError(errors)
    assert settings is not None
    out = settings.model_dump()
    if sealed:
        out[SEALED] = sealed
    return out
