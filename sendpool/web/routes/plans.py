"""/admin/plans: the plans, one plan's servers, attaching and detaching them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.services.tenancy import plans
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import SignedIn, page, redirect_with_flash
from sendpool.web.route import PageRoute, safe_next
from sendpool.web.session import Flash
from sendpool.web.views import plans as plan_views

router = APIRouter(prefix="/admin/plans", route_class=PageRoute, include_in_schema=False)


def _plan_fields(form: FormData) -> tuple[str, int | None, dict[str, str]]:
    """(name, burst threshold, errors) as typed; the service checks the rest."""
    name, burst = text(form, "name"), text(form, "burst_threshold")
    errors = {} if name else {"name": "required"}
    try:
        return name, int(burst) if burst else None, errors
    except ValueError:
        return name, None, {**errors, "burst_threshold": "must be a whole number"}


def _redirect(request: Request, to: str, flash: Flash) -> Response:
    return redirect_with_flash(request, to, flash)


@router.get("")
async def list_plans(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    found = await rt.db.run(plans.list_plans)
    return page(request, "plans.html", admin=admin, plans=found, values={}, errors={})


@router.post("")
async def create_plan(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    name, burst, errors = _plan_fields(form)
    if not errors:
        try:
            plan = await rt.db.run(
                plan_views.add_plan, name=name, burst_threshold=burst, actor=admin.actor, now=now
            )
        except FieldError as exc:
            errors = dict(exc.errors)
        else:
            flash = Flash("ok", f"Plan {plan.name} created", "Attach its servers below.")
            return _redirect(request, f"/admin/plans/{plan.uid}", flash)
    found = await rt.db.run(plans.list_plans)
    values = {"name": name, "burst_threshold": text(form, "burst_threshold")}
    return page(
        request, "plans.html", admin=admin, plans=found, values=values, errors=errors, status=422
    )


async def _plan_page(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    now: Now,
    uid: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    info = await rt.db.run(plan_views.plan_page, rt.box, uid, now)
    shown = values or {
        "name": info.plan.name,
        "burst_threshold": str(info.plan.burst_threshold or ""),
    }
    status = 422 if errors else 200
    return page(
        request,
        "plan.html",
        admin=admin,
        info=info,
        values=shown,
        errors=errors or {},
        status=status,
    )


@router.get("/{uid}")
async def show_plan(uid: str, request: Request, admin: Admin, rt: RuntimeDep, now: Now) -> Response:
    return await _plan_page(request, admin, rt, now, uid)


@router.post("/{uid}")
async def save_plan(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    name, burst, errors = _plan_fields(form)
    if not errors:
        try:
            plan = await rt.db.run(
                plan_views.save_plan,
                uid,
                name=name,
                burst_threshold=burst,
                actor=admin.actor,
                now=now,
            )
        except FieldError as exc:
            errors = dict(exc.errors)
        else:
            return _redirect(request, f"/admin/plans/{plan.uid}", Flash("ok", "Saved"))
    values = {"name": name, "burst_threshold": text(form, "burst_threshold")}
    return await _plan_page(request, admin, rt, now, uid, values, errors)


@router.post("/{uid}/servers")
async def attach(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    server = text(form, "server")
    if not server:
        return _redirect(
            request, f"/admin/plans/{uid}", Flash("error", "Choose a server to attach")
        )
    plan = await rt.db.run(
        plans.attach_server, uid, server, attach=True, actor=admin.actor, now=now
    )
    name = next((s.name for s in plan.servers if server in (s.uid, s.name)), server)
    back = safe_next(text(form, "next") or f"/admin/plans/{plan.uid}")
    return _redirect(request, back, Flash("ok", f"{name} attached to {plan.name}"))


@router.post("/{uid}/servers/{server_uid}/detach")
async def detach(
    uid: str, server_uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    plan = await rt.db.run(
        plans.attach_server, uid, server_uid, attach=False, actor=admin.actor, now=now
    )
    back = safe_next(text(form, "next") or f"/admin/plans/{plan.uid}")
    return _redirect(request, back, Flash("ok", f"Server detached from {plan.name}"))
