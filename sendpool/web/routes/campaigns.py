"""/admin/campaigns: every customer's campaigns, one campaign's progress and message log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sendpool.http.context import Now, RuntimeDep
from sendpool.web.deps import Admin
from sendpool.web.render import page
from sendpool.web.route import PageRoute
from sendpool.web.views import campaigns as campaign_views

router = APIRouter(prefix="/admin/campaigns", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
Recipient = Annotated[str | None, Query(max_length=320)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("")
async def list_campaigns(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    lines = await rt.db.run(campaign_views.campaign_lines)
    return page(request, "campaigns.html", admin=admin, campaigns=lines)


@router.get("/{uid}")
async def show_campaign(
    uid: str,
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    now: Now,
    recipient: Recipient = None,
    offset: Offset = 0,
) -> Response:
    info = await rt.db.run(
        campaign_views.campaign_page,
        uid,
        recipient=(recipient or "").strip() or None,
        limit=PAGE_SIZE,
        offset=offset,
        now=now,
    )
    return page(request, "campaign.html", admin=admin, info=info, c=info.line, r=info.report)
