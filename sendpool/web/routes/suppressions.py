"""/admin/suppressions: a customer's suppressed addresses, searched, paged, lifted one by one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from sendpool.errors import NotFoundError
from sendpool.http.context import Now, RuntimeDep
from sendpool.services import refs
from sendpool.services.errors import FieldError
from sendpool.services.messages import suppressions
from sendpool.services.tenancy import customers
from sendpool.services.tenancy.customers import CustomerDetail
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import SignedIn, page, redirect_with_flash
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
    return page(request, "suppressions.html", admin=admin, info=info, values={}, errors={})


async def _with_errors(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    ref: str,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    """The customer's first page again, with what was typed and each error beside its input."""
    info = await rt.db.run(views.suppressions_page, ref, search="", page=1)
    return page(
        request,
        "suppressions.html",
        admin=admin,
        info=info,
        values=values,
        errors=errors,
        status=422,
    )


async def _customer(rt: RuntimeDep, ref: str) -> tuple[CustomerDetail, int]:
    if not ref:
        raise NotFoundError("no customer named; choose one on the suppressions page")
    customer = await rt.db.run(customers.get_customer, ref)
    return customer, await rt.db.run(refs.customer_id, customer.uid)


@router.post("/add")
async def add(request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now) -> Response:
    """Suppress one address for one customer (audited); one already there keeps its reason."""
    customer, customer_id = await _customer(rt, text(form, "customer"))
    email, reason = text(form, "email"), text(form, "reason")
    values = {"email": email, "reason": reason}
    if not email:
        return await _with_errors(request, admin, rt, customer.uid, values, {"email": "required"})
    try:
        info, created = await rt.db.run(
            suppressions.add_suppression,
            customer_id,
            email=email[: MAX_EMAIL + 1],
            reason=reason or None,
            actor=admin.actor,
            now=now,
        )
    except FieldError as exc:
        return await _with_errors(request, admin, rt, customer.uid, values, dict(exc.errors))
    back = views.page_url(customer.name, "", 1)
    if not created:
        detail = f"It was already suppressed ({info.reason}); nothing changed."
        return _back(request, back, Flash("ok", f"{info.email} already suppressed", detail))
    detail = f"Mail of {customer.name} is never sent to this address."
    return _back(request, back, Flash("ok", f"{info.email} suppressed", detail))


@router.post("/import")
async def import_csv(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    """A CSV (email,reason) into one customer's suppressions; a refused file writes nothing."""
    customer, customer_id = await _customer(rt, text(form, "customer"))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _with_errors(
            request, admin, rt, customer.uid, {}, {"file": "choose a CSV file"}
        )
    try:
        report = await rt.db.run(
            suppressions.import_suppressions,
            customer_id,
            stream=upload.file,
            actor=admin.actor,
            now=now,
        )
    except FieldError as exc:
        errors: dict[str, str] = {}
        for k, m in exc.errors:
            errors[k] = f"{errors[k]}; {m}" if k in errors else m
        return await _with_errors(request, admin, rt, customer.uid, {}, errors)
    finally:
        await upload.close()
    facts = {
        "rows": str(report.rows),
        "added": str(report.added),
        "already suppressed": str(report.existing),
        "skipped": str(len(report.errors)),
    }
    skipped = "; ".join(f"line {e.line}: {e.message}" for e in report.errors[:5])
    flash = Flash("ok", f"{report.added} address(es) suppressed", skipped, facts)
    return _back(request, views.page_url(customer.name, "", 1), flash)


@router.get("/export.csv")
async def export_csv(admin: Admin, rt: RuntimeDep, customer: CustomerRef = None) -> Response:
    """Every suppression of the customer, email,reason, as the API's export writes it."""
    found, customer_id = await _customer(rt, (customer or "").strip())
    csv_text = await rt.db.run(suppressions.export_suppressions, customer_id)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in found.name)[:60]
    disposition = f'attachment; filename="suppressions-{name}.csv"'
    return Response(
        csv_text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


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
            actor=admin.actor,
            now=now,
        )
    except NotFoundError as exc:
        return _back(request, back, Flash("error", "Not removed", str(exc)))
    detail = f"Mail of {customer.name} goes to this address again."
    return _back(request, back, Flash("ok", f"{lifted.email} removed", detail))


def _back(request: Request, to: str, flash: Flash) -> Response:
    return redirect_with_flash(request, to, flash)
