"""What comes back after a send, on the wire: delivery events and suppressions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sendpool.api.schemas.common import RequestBody
from sendpool.api.schemas.tenant import Email, Page, RowProblem


class EventOut(BaseModel):
    id: int
    at: datetime = Field(description="When sendpool learnt of it.")
    kind: str = Field(
        description="hard_bounce, soft_bounce, reputation, complaint, delay or rejected."
    )
    status_code: str | None = Field(description="RFC 3463 code, e.g. 5.1.1.")
    recipient: str | None
    reported_by: str | None = Field(description="The reporting MTA or feedback-loop domain.")
    source: str | None = Field(description="smtp (the send itself), inbound, imap:NAME ...")
    detail: str | None
    sent_at: datetime | None = Field(description="When the message it is about was sent.")
    server_uid: str | None
    server_name: str | None
    message_uid: str | None
    customer_uid: str | None
    customer_name: str | None


class EventPage(Page):
    items: list[EventOut]
    limit: int
    offset: int
    next_offset: int | None


class SuppressionIn(RequestBody):
    email: str = Email
    reason: str | None = Field(None, max_length=1000, description="One line; shown beside it.")


class SuppressionOut(BaseModel):
    email: str
    kind: str | None = Field(
        description="hard_bounce, soft_bounce, complaint, unsubscribe, manual or imported; null: older."
    )
    reason: str
    server: str | None = Field(description="The server whose answer suppressed it, by name.")
    created_at: datetime


class SuppressionPage(Page):
    items: list[SuppressionOut]
    limit: int
    offset: int
    next_offset: int | None


class SuppressionImportOut(BaseModel):
    rows: int = Field(description="Rows read and kept.")
    added: int = Field(description="Addresses newly suppressed.")
    existing: int = Field(description="Addresses that already were; they keep their reason.")
    skipped: int
    errors: list[RowProblem] = Field(description="Rows skipped, by line number.")
