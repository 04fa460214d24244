"""A customer's lists, subscribers, campaigns and messages on the wire."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema

from sendpool.api.schemas.common import Name, RequestBody

FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")]


# Integers JSON readers everywhere agree on (RFC 8259 §6: IEEE 754 doubles); a larger one
# would be stored, then read back changed, or not at all (PostgreSQL refuses Infinity).
MAX_SAFE_INT = 2**53 - 1


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= MAX_SAFE_INT:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and len(value) <= 4096:
        return value
    raise ValueError(
        "must be a string of at most 4096 characters, a finite number "
        f"(whole numbers up to {MAX_SAFE_INT}), a boolean or null"
    )


# One clear error for a bad merge field, rather than one per type it might have been.
FieldValue = Annotated[
    Any,
    PlainValidator(_scalar),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": 4096},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        }
    ),
]
Email = Field(min_length=3, max_length=320)
Body = Field(None, max_length=500_000)


class Me(BaseModel):
    kind: str
    token_name: str
    customer_uid: str | None
    customer_name: str | None


class PlanServers(BaseModel):
    servers: list[str] = Field(description="Names of the servers of your plan; nothing else.")


class ListCreate(RequestBody):
    name: str = Name


class ListOut(BaseModel):
    uid: str
    name: str
    subscribers: int
    created_at: datetime


class SubscriberIn(RequestBody):
    email: str = Email
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=100)


class SubscribersIn(RequestBody):
    subscribers: list[SubscriberIn] = Field(min_length=1, max_length=1000)


class AddOut(BaseModel):
    created: int
    merged: int


class SubscriberOut(BaseModel):
    email: str
    status: str
    fields: dict[str, Any]
    created_at: datetime


class HistoryEventOut(BaseModel):
    at: datetime
    kind: str = Field(description="unsubscribe, hard_bounce, soft_bounce, complaint, ...")
    detail: str | None
    source: str | None = Field(description="one-click, page, mailto, smtp, imap:...")
    message_uid: str | None


class SubscriberHistoryOut(BaseModel):
    email: str
    status: str
    events: list[HistoryEventOut]


class RowProblem(BaseModel):
    line: int
    message: str


class ImportOut(BaseModel):
    rows: int = Field(description="Rows read and kept.")
    created: int
    merged: int
    skipped: int
    errors: list[RowProblem] = Field(description="Rows skipped, with their line numbers.")


class CampaignCreate(RequestBody):
    name: str = Name
    list_uid: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=998)
    from_email: str = Email
    from_name: str | None = Field(None, max_length=200)
    reply_to: str | None = Field(None, max_length=320)
    text: str | None = Body
    html: str | None = Body


class CampaignOut(BaseModel):
    uid: str
    name: str
    list_uid: str
    subject: str
    from_email: str
    status: str
    recipients: int
    created_at: datetime
    launched_at: datetime | None
    warnings: list[str] = Field(
        default_factory=list, description="Merge fields some subscribers of the list lack."
    )


class ProgressOut(BaseModel):
    uid: str
    name: str
    status: str = Field(
        description="draft, launching (messages still being queued), sending, paused or done."
    )
    recipients: int
    by_status: dict[str, int]
    by_server: dict[str, int] = Field(description="Messages sent, per server name.")
    waiting: int = Field(description="Queued until a server's window opens.")
    due_now: int
    next_due_at: datetime | None
    warnings: list[str] = Field(
        default_factory=list,
        description="From a launch: merge fields some recipients lack (they render empty).",
    )


class LogOut(BaseModel):
    uid: str
    recipient: str
    status: str
    server: str | None = Field(description="Name of the server that sent it (or last tried).")
    attempts: int
    sent_at: datetime | None
    message_id: str | None
    remote_id: str | None
    reply: str | None
    last_error: str | None
    event: str | None = Field(
        None, description="The latest report about it after the send: a bounce, a complaint."
    )


class Page(BaseModel):
    """A page of ``items``; each subclass declares its item type."""

    @classmethod
    def of(cls, items: Sequence[object], limit: int, offset: int) -> Self:
        """A full page may have a next one; a short page is the last."""
        more = offset + limit if len(items) == limit else None
        fields = {"items": items, "limit": limit, "offset": offset, "next_offset": more}
        return cls.model_validate(fields, from_attributes=True)


class LogPage(Page):
    items: list[LogOut]
    limit: int
    offset: int
    next_offset: int | None
    next_after: str | None = Field(
        None, description="Pass as `after` for the next page (keyset: as fast at any depth)."
    )


class MessageOut(LogOut):
    kind: str
    campaign_uid: str | None


class TransactionalIn(RequestBody):
    to: str = Email
    subject: str = Field(min_length=1, max_length=998)
    from_email: str = Email
    from_name: str | None = Field(None, max_length=200)
    reply_to: str | None = Field(None, max_length=320)
    text: str | None = Body
    html: str | None = Body
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=100)
    unsubscribe_list: str | None = Field(
        None,
        max_length=64,
        description="The uid of the list this message is about: it then carries that list's "
        "List-Unsubscribe headers for the recipient, who must be subscribed to it. "
        "Without it, a transactional message carries no list headers.",
    )


class Queued(BaseModel):
    uid: str
    status: str


class SubscriberPage(Page):
    items: list[SubscriberOut]
    limit: int
    offset: int
    next_offset: int | None
