"""/admin/tokens: API tokens listed, issued (shown once, on the answer only) and revoked."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sendpool.errors import NotFoundError
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access import tokens
from sendpool.services.access.tokens import IssuedToken
from sendpool.services.errors import FieldError
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import SignedIn, page, redirect_with_flash
from sendpool.web.route import PageRoute, safe_next
from sendpool.web.session import Flash
from sendpool.web.views import customers as views

router = APIRouter(prefix="/admin/tokens", route_class=PageRoute, include_in_schema=False)
ADMIN_KIND = "admin"  # the customer select's value for an admin token


async def _tokens_page(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    *,
    issued: IssuedToken | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    info = await rt.db.run(views.tokens_page)
    status = 422 if errors else 201 if issued else 200
    return page(
        request,
        "tokens.html",
        admin=admin,
        info=info,
        issued=issued,
        values=values or {},
        errors=errors or {},
        status=status,
    )


@router.get("")
async def list_tokens(request: Request, admin: Admin, rt: RuntimeDep) -> Response:
    return await _tokens_page(request, admin, rt)


@router.post("")
async def create_token(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    """The token is on this answer only (never in a redirect, a cookie or a log)."""
    name, owner = text(form, "name"), text(form, "customer")
    values = {"name": name, "customer": owner}
    if not owner:
        return await _tokens_page(
            request, admin, rt, values=values, errors={"customer": "choose admin or a customer"}
        )
    customer = None if owner == ADMIN_KIND else owner
    try:
        issued = await rt.db.run(
            views.issue_token, name=name, customer=customer, actor=admin.actor, now=now
        )
    except FieldError as exc:
        return await _tokens_page(request, admin, rt, values=values, errors=dict(exc.errors))
    return await _tokens_page(request, admin, rt, issued=issued)


@router.post("/{uid}/revoke")
async def revoke_token(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    back = safe_next(text(form, "next") or "/admin/tokens")
    try:
        info = await rt.db.run(tokens.revoke_token, uid, actor=admin.actor, now=now)
        flash = Flash("ok", f"Token {info.name} revoked", "Calls with it are refused from now on.")
    except NotFoundError as exc:
        flash = Flash("error", "Not revoked", str(exc))
    return redirect_with_flash(request, back, flash)
