"""/admin/sending-servers/{uid}/webhook: the URL to paste into the vendor's console, and receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.errors import NotFoundError
from sendpool.http.context import RuntimeDep, webhook_receiver
from sendpool.services.webhooks.info import webhook_info

router = APIRouter(
    prefix="/sending-servers", tags=["admin: sending servers"], route_class=JsonBodyRoute
)


class WebhookOut(BaseModel):
    server: str
    vendor: str
    url: str  # the password masked unless ?reveal=true
    where: str
    missing: list[str]
    accepted: int
    refused: int  # since this serving process started
    last_event_at: datetime | None
    last_event: str | None
    last_refused_at: datetime | None
    last_refusal: str | None
    unmatched: list[dict[str, Any]]


@router.get("/{uid}/webhook", response_model=WebhookOut)
async def show_webhook(
    uid: str,
    _: Admin,
    request: Request,
    rt: RuntimeDep,
    reveal: Annotated[bool, Query(description="Give the URL with its password.")] = False,
) -> WebhookOut:
    """404 for a server that reports by mail (an SMTP relay) rather than by webhook."""
    refusals = webhook_receiver(request).refusals
    info = await rt.db.run(webhook_info, rt.box, rt.settings.public_url, uid, refusals)
    if info is None:
        raise NotFoundError(f"{uid[:60]} is an SMTP relay: it reports bounces by mail")
    r = info.receipt
    return WebhookOut(
        server=info.server,
        vendor=info.vendor,
        url=info.url if reveal else info.shown_url,
        where=info.where,
        missing=list(info.missing),
        accepted=r.accepted if r else 0,
        last_event_at=r.last_event_at if r else None,
        last_event=r.last_event if r else None,
        refused=info.refusal.count if info.refusal else 0,
        last_refused_at=info.refusal.at if info.refusal else None,
        last_refusal=info.refusal.why if info.refusal else None,
        unmatched=info.unmatched,
    )
