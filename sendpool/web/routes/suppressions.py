"""/admin/suppressions: a customer's suppressed addresses, searched, paged, lifted one by one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sendpool.errors import NotFoundError
from sendpool.http.context import Now, RuntimeDep
from sendpool.services import refs
from sendpool.services.messages import suppressions
from sendpool.services.tenancy import customers
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import page, sessions_of
from sendpool.web.route import PageRoute
from sendpool.web.session import Flash
from sendpool.web.views import suppressions as views

router = APIRouter(prefix="/admin/suppressions", route_class=PageRoute, include_in_schema=False)
MAX_EMAIL = 320
MAX_PAGE = 100_000
CustomerRef = Annotated[str | None, Query(max_length=200)]
Search = Annotated[str | None, Query(max_length=MAX_EMAIL)]
PageNumber = Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)]


@router.get("")
async def list_suppressions(
    request: Request,
    admin: Admin,
    rt: RuntimeDep,
    customer: CustomerRef = None,
    q: Search = None,
    page_number: PageNumber = 1,
) -> Response:
    info = await rt.db.run(
        views.suppressions_page,
        (customer or "").strip() or None,
        search=(q or "").strip(),
        page=page_number,
    )
    return page(request, "suppressions.html", admin=admin, info=info)


@router.post("/remove")
async def remove(request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now) -> Response:
    """Lift one suppression (audited); back to the same customer, search and page."""
    ref, email = text(form, "customer"), text(form, "email")
    if not ref:
        raise NotFoundError("no customer named; choose one on the suppressions page")
    customer = await rt.db.run(customers.get_customer, ref)
    number = text(form, "page")
    back = views.page_url(
        customer.name,
        text(form, "q")[:MAX_EMAIL],
        int(number) if number.isdigit() and 0 < int(number) <= MAX_PAGE else 1,
    )
    if not email or len(email) > MAX_EMAIL:
        return _back(request, back, Flash("error", "Not removed", "No address was named."))
    customer_id = await rt.db.run(refs.customer_id, customer.uid)
    try:
        lifted = await rt.db.run(
            suppressions.remove_suppression,
            customer_id,
            email,
            actor=f"admin:{admin.email}",
            now=now,
        )
    except NotFoundError as exc:
        return _back(request, back, Flash("error", "Not removed", str(exc)))
    detail = f"Mail of {customer.name} goes to this address again."
    return _back(request, back, Flash("ok", f"{lifted.email} removed", detail))


def _back(request: Request, to: str, flash: Flash) -> Response:
    response = RedirectResponse(to, status_code=303)
    sessions_of(request).flash(request, response, flash)
    return response
