"""Any other path under /admin: a page saying so, in the admin's frame, never a JSON problem."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sendpool.web.deps import Admin
from sendpool.web.route import PageRoute, error_page

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.api_route("/admin/{rest:path}", methods=["GET", "POST"])
async def not_found(rest: str, request: Request, _: Admin) -> Response:
    """Signed-out visitors are sent to sign in first: unknown paths reveal nothing to them."""
    return error_page(
        request,
        404,
        "Page not found",
        f"There is no admin page at /admin/{rest}. The sections above lead to every page.",
    )
