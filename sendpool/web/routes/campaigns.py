"""/admin/campaigns: every customer's campaigns, filtered; one campaign's progress, log and controls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.campaigns import overview
from sendpool.services.errors import ConflictError, FieldError
from sendpool.web.deps import Admin, Form
from sendpool.web.render import page, redirect_with_flash
from sendpool.web.route import PageRoute
from sendpool.web.session import Flash
from sendpool.web.views import campaigns as campaign_views
from sendpool.web.views.campaigns import CampaignsPage

router = APIRouter(prefix="/admin/campaigns", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
Recipient = Annotated[str | None, Query(max_length=320)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
After = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9]+$")]
Filter = Annotated[str | None, Query(max_length=200)]


def _back(request: Request, uid: str, flash: Flash) -> Response:
    return redirect_with_flash(request, f"/admin/campaigns/{uid}", flash)


@router.get("")
async def list_campaigns(
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    status: Filter = None,
    customer: Filter = None,
) -> Response:
    status, customer = (status or "").strip() or None, (customer or "").strip() or None
    try:
        info = await rt.db.read(campaign_views.campaigns_page, status=status, customer=customer)
        errors: dict[str, str] = {}
    except FieldError as exc:
        errors = dict(exc.errors)
        info = await rt.db.read(campaign_views.campaigns_page, status=None, customer=None)
        info = CampaignsPage([], info.customers, info.statuses, status, customer)
    code = 422 if errors else 200
    return page(request, "campaigns.html", admin=admin, info=info, errors=errors, status=code)


@router.get("/{uid}")
async def show_campaign(
    uid: str,
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    now: Now,
    recipient: Recipient = None,
    offset: Offset = 0,
    after: After = None,
) -> Response:
    info = await rt.db.read(
        campaign_views.campaign_page,
        uid,
        recipient=(recipient or "").strip() or None,
        limit=PAGE_SIZE,
        offset=0 if after else offset,
        now=now,
        after=after,
    )
    return page(request, "campaign.html", admin=admin, info=info, c=info.line, r=info.report)


@router.post("/{uid}/pause")
async def pause(
    uid: str, request: Request, admin: Admin, _: Form, rt: RuntimeDep, now: Now
) -> Response:
    try:
        report, moved = await rt.db.run(overview.pause_campaign, uid, actor=admin.actor, now=now)
    except ConflictError as exc:
        return _back(request, uid, Flash("error", "Not paused", str(exc)))
    if not moved:
        return _back(request, report.uid, Flash("ok", f"{report.name} was already paused"))
    detail = (
        "Its queued messages are held until you resume it; the workers see the pause "
        "within seconds, and a message already handed to a server still goes."
    )
    return _back(request, report.uid, Flash("ok", f"{report.name} paused", detail))


@router.post("/{uid}/resume")
async def resume(
    uid: str, request: Request, admin: Admin, _: Form, rt: RuntimeDep, now: Now
) -> Response:
    try:
        report, moved = await rt.db.run(overview.resume_campaign, uid, actor=admin.actor, now=now)
    except ConflictError as exc:
        return _back(request, uid, Flash("error", "Not resumed", str(exc)))
    if not moved:
        detail = f"It is {report.status}: only a paused campaign is resumed."
        return _back(request, report.uid, Flash("error", "Not resumed", detail))
    detail = "Its held messages are due again now."
    return _back(request, report.uid, Flash("ok", f"{report.name} resumed", detail))


@router.post("/{uid}/send-waiting")
async def send_waiting(
    uid: str, request: Request, admin: Admin, _: Form, rt: RuntimeDep, now: Now
) -> Response:
    """Make its messages that wait for a window due now; the workers look again at once."""
    try:
        name, woken = await rt.db.run(overview.send_waiting, uid, actor=admin.actor, now=now)
    except ConflictError as exc:
        return _back(request, uid, Flash("error", "Not sent now", str(exc)))
    if not woken:
        return _back(
            request,
            uid,
            Flash("ok", "Nothing was waiting", f"{name} has no message waiting for a window."),
        )
    detail = "The workers pick a server for each now; what still finds no room waits again."
    return _back(request, uid, Flash("ok", f"{woken:,} message(s) of {name} due now", detail))
