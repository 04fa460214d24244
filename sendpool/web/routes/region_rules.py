"""/admin/region-rules: which plan the customers tagged with each region send through."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from sendpool.errors import NotFoundError
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.services.tenancy import customers
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import redirect_with_flash
from sendpool.web.route import PageRoute
from sendpool.web.routes.customers import list_page
from sendpool.web.session import Flash
from sendpool.web.views import customers as views

router = APIRouter(prefix="/admin/region-rules", route_class=PageRoute, include_in_schema=False)
PATH = "/admin/region-rules"
Region = Annotated[str, Path(min_length=1, max_length=64)]


def _redirect(request: Request, flash: Flash) -> Response:
    return redirect_with_flash(request, PATH, flash)


@router.get("")
async def list_rules(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    return await list_page(request, admin, rt, template="region_rules.html")


@router.post("")
async def put_rule(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    """Set a region's plan; setting the same rule twice changes nothing."""
    region, plan = text(form, "region"), text(form, "plan")
    try:
        rule = await rt.db.run(views.put_rule, region, plan=plan, actor=admin.actor, now=now)
    except FieldError as exc:
        values = {"region": region, "plan": plan}
        return await list_page(
            request, admin, rt, values, dict(exc.errors), template="region_rules.html"
        )
    detail = f"Customers tagged {rule.region} send through {rule.plan.name}."
    return _redirect(request, Flash("ok", f"Region {rule.region} → {rule.plan.name}", detail))


@router.post("/{region}/delete")
async def delete_rule(
    region: Region, request: Request, admin: Admin, _: Form, rt: RuntimeDep, now: Now
) -> Response:
    try:
        await rt.db.run(customers.delete_region_rule, region, actor=admin.actor, now=now)
    except NotFoundError as exc:
        return _redirect(request, Flash("error", "Not deleted", str(exc)))
    detail = "Its customers send through their own plan again."
    return _redirect(request, Flash("ok", f"Region rule {region} deleted", detail))
