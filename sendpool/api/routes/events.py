"""/admin/events: bounces, complaints, delays and refusals the pool recorded, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin, Limit, Offset
from sendpool.api.schemas.returns import EventPage
from sendpool.http.context import RuntimeDep
from sendpool.services.operations import events
from sendpool.services.operations.events import EVENT_KINDS

router = APIRouter(tags=["admin: events"], route_class=JsonBodyRoute)
Ref = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("/events", response_model=EventPage)
async def list_events(
    _: Admin,
    rt: RuntimeDep,
    server: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Server uid or name.")
    ] = None,
    kind: Annotated[
        str | None, Query(max_length=32, description=f"One of {', '.join(EVENT_KINDS)}.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="From this time on (ISO 8601; UTC if no zone).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    customer: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Customer uid or name.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    """Newest first; an unknown server, customer or kind is refused (422) naming the filter."""
    rows = await rt.db.read(
        events.list_events,
        server=server,
        kind=kind,
        since=since,
        until=until,
        customer=customer,
        limit=limit,
        offset=offset,
    )
    return EventPage.of(rows, limit, offset)
