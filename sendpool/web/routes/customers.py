"""/admin/customers: the customers, their plan, region and effective plan, and their tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import SignedIn, page, redirect_with_flash
from sendpool.web.route import PageRoute
from sendpool.web.session import Flash
from sendpool.web.views import customers as views

router = APIRouter(prefix="/admin/customers", route_class=PageRoute, include_in_schema=False)
FIELDS = ("name", "plan", "region")


def _typed(form: FormData) -> dict[str, str]:
    return {k: text(form, k) for k in FIELDS}


def _redirect(request: Request, to: str, flash: Flash) -> Response:
    return redirect_with_flash(request, to, flash)


async def list_page(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    *,
    template: str = "customers.html",
) -> Response:
    """The customers with their plans and the region rules, in one of the two pages on them."""
    info = await rt.db.run(views.customers_page)
    return page(
        request,
        template,
        admin=admin,
        info=info,
        values=values or {},
        errors=errors or {},
        status=422 if errors else 200,
    )


@router.get("")
async def list_customers(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    return await list_page(request, admin, rt)


@router.post("")
async def create_customer(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    typed = _typed(form)
    if not typed["name"]:
        return await list_page(request, admin, rt, typed, {"name": "required"})
    fields = {k: v or None for k, v in typed.items()}
    try:
        made = await rt.db.run(views.add_customer, fields=fields, actor=admin.actor, now=now)
    except FieldError as exc:
        return await list_page(request, admin, rt, typed, dict(exc.errors))
    plan = made.effective_plan.name if made.effective_plan else "none yet: its mail waits"
    flash = Flash("ok", f"Customer {made.name} created", f"Effective plan: {plan}.")
    return _redirect(request, f"/admin/customers/{made.uid}", flash)


async def _customer_page(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    uid: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    info = await rt.db.run(views.customer_page, uid)
    c = info.customer
    shown = values or {
        "name": c.name,
        "plan": c.plan.uid if c.plan else "",
        "region": c.region or "",
    }
    return page(
        request,
        "customer.html",
        admin=admin,
        info=info,
        c=c,
        values=shown,
        errors=errors or {},
        status=422 if errors else 200,
    )


@router.get("/{uid}")
async def show_customer(uid: str, request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    return await _customer_page(request, admin, rt, uid)


@router.post("/{uid}")
async def save_customer(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    typed = _typed(form)
    if not typed["name"]:
        return await _customer_page(request, admin, rt, uid, typed, {"name": "required"})
    changes = {k: v or None for k, v in typed.items()}
    try:
        saved = await rt.db.run(
            views.save_customer, uid, changes=changes, actor=admin.actor, now=now
        )
    except FieldError as exc:
        return await _customer_page(request, admin, rt, uid, typed, dict(exc.errors))
    plan = saved.effective_plan.name if saved.effective_plan else "none: its mail waits"
    flash = Flash("ok", "Saved", f"{saved.name} sends through {plan}.")
    return _redirect(request, f"/admin/customers/{saved.uid}", flash)
