"""/admin/distribution: each plan's split over its servers in the last 30 days, and the skips."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sendpool.http.context import Now, RuntimeDep
from sendpool.web.deps import Admin
from sendpool.web.render import page
from sendpool.web.route import PageRoute
from sendpool.web.views import distribution as distribution_views

router = APIRouter(prefix="/admin/distribution", route_class=PageRoute, include_in_schema=False)

# Colours for servers in a chart, in turn (they match .s0 ... .s7 in admin.css).
PALETTE = 8


@router.get("")
async def distribution(request: Request, admin: Admin, rt: RuntimeDep, now: Now) -> Response:
    plans = await rt.db.read(distribution_views.distribution, now)
    return page(
        request,
        "distribution.html",
        admin=admin,
        plans=plans,
        days=distribution_views.DAYS,
        palette=PALETTE,
    )
