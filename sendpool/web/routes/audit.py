"""/admin/audit: who changed what and when, filtered by actor, subject and time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.services.operations import audit
from sendpool.services.operations.events import parse_since
from sendpool.web.deps import Admin
from sendpool.web.render import page
from sendpool.web.route import PageRoute

router = APIRouter(prefix="/admin/audit", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 100
Text = Annotated[str | None, Query(max_length=200)]
When = Annotated[str | None, Query(max_length=40)]
PageNumber = Annotated[int, Query(alias="page", ge=1, le=100_000)]


def _when(field: str, typed: str, now: datetime) -> datetime | None:
    """A span back from now (24h, 7d) or an ISO time, refused under the filter's own name."""
    if not typed:
        return None
    try:
        return parse_since(typed, now)
    except FieldError as exc:
        raise FieldError([(field, m) for _f, m in exc.errors]) from None


@router.get("")
async def audit_log(
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    now: Now,
    actor: Text = None,
    subject: Text = None,
    since: When = None,
    until: When = None,
    page_number: PageNumber = 1,
) -> Response:
    typed = {
        k: (v or "").strip()
        for k, v in (("actor", actor), ("subject", subject), ("since", since), ("until", until))
    }
    errors: dict[str, str] = {}
    rows: list[audit.AuditRecord] = []
    try:
        start, end = _when("since", typed["since"], now), None
        end = _when("until", typed["until"], now)
        if start is not None and end is not None and end <= start:
            raise FieldError([("until", "is not after since")])
    except FieldError as exc:
        errors = dict(exc.errors)
    else:
        rows = await rt.db.run(
            audit.list_audit,
            actor=typed["actor"] or None,
            subject=typed["subject"] or None,
            since=start,
            until=end,
            limit=PAGE_SIZE + 1,  # one more tells whether an older page exists
            offset=(page_number - 1) * PAGE_SIZE,
        )
    query = {k: v for k, v in typed.items() if v}

    def url(n: int) -> str:
        q = {**query, **({"page": str(n)} if n > 1 else {})}
        return "/admin/audit" + (f"?{urlencode(q)}" if q else "")

    return page(
        request,
        "audit.html",
        admin=admin,
        rows=rows[:PAGE_SIZE],
        values=typed,
        errors=errors,
        page_number=page_number,
        first_row=(page_number - 1) * PAGE_SIZE + 1,
        newer=url(page_number - 1) if page_number > 1 else None,
        older=url(page_number + 1) if len(rows) > PAGE_SIZE else None,
        filtered=bool(query),
        status=422 if errors else 200,
    )
