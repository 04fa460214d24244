"""/admin/events: bounces, complaints and deferrals, by server; each server's last 24 hours."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.services.operations import events
from sendpool.services.operations.events import EVENT_KINDS, Thresholds
from sendpool.web.deps import Admin
from sendpool.web.render import page
from sendpool.web.route import PageRoute
from sendpool.web.views import events as views

router = APIRouter(prefix="/admin/events", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 100
Ref = Annotated[str | None, Query(max_length=200)]
When = Annotated[str | None, Query(max_length=40)]
PageNumber = Annotated[int, Query(alias="page", ge=1, le=100_000)]


@router.get("")
async def list_events(
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    now: Now,
    server: Ref = None,
    kind: Ref = None,
    customer: Ref = None,
    since: When = None,
    page_number: PageNumber = 1,
) -> Response:
    typed = {
        k: (v or "").strip()
        for k, v in (("server", server), ("kind", kind), ("customer", customer), ("since", since))
    }
    errors: dict[str, str] = {}
    try:
        start = events.parse_since(typed["since"], now) if typed["since"] else None
        info = await rt.db.read(
            views.events_page,
            server=typed["server"] or None,
            kind=typed["kind"] or None,
            customer=typed["customer"] or None,
            since=start,
            limit=PAGE_SIZE + 1,
            offset=(page_number - 1) * PAGE_SIZE,
            now=now,
            thresholds=Thresholds.of(rt.settings),
        )
    except FieldError as exc:
        errors = dict(exc.errors)
        info = await rt.db.read(
            views.events_page,
            limit=0,
            offset=0,
            now=now,
            thresholds=Thresholds.of(rt.settings),
        )
    query = {k: v for k, v in typed.items() if v}

    def url(n: int) -> str:
        q = {**query, **({"page": str(n)} if n > 1 else {})}
        return "/admin/events" + (f"?{urlencode(q)}" if q else "")

    return page(
        request,
        "events.html",
        admin=admin,
        info=info,
        rows=info.rows[:PAGE_SIZE],
        kinds=EVENT_KINDS,
        values=typed,
        errors=errors,
        first_row=(page_number - 1) * PAGE_SIZE + 1,
        newer=url(page_number - 1) if page_number > 1 else None,
        older=url(page_number + 1) if len(info.rows) > PAGE_SIZE else None,
        filtered=bool(query),
        status=422 if errors else 200,
    )
