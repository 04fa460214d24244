"""Signing in and out; ``/`` sends a visitor to the pool, or to sign in first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access import admins
from sendpool.web.deps import Form
from sendpool.web.render import page, sessions_of
from sendpool.web.route import HOME, LOGIN, CsrfRefused, PageRoute, safe_next
from sendpool.web.session import WebSession, same_token

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Next = Annotated[str | None, Query(max_length=2000)]


@router.get("/")
async def root(request: Request) -> Response:
    session = sessions_of(request).read(request)
    signed = session is not None and session.admin_id is not None
    return RedirectResponse(HOME if signed else LOGIN, status_code=303)


@router.get("/admin")
async def admin_root() -> Response:
    return RedirectResponse(HOME, status_code=303)


def _login_page(
    request: Request,
    session: WebSession,
    *,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    response = page(
        request,
        "login.html",
        status=status,
        csrf=session.csrf,
        next_url=next_url,
        email=email,
        error=error,
    )
    sessions_of(request).write(request, response, session)
    return response


@router.get("/admin/login")
async def login_form(request: Request, next: Next = None) -> Response:
    sessions = sessions_of(request)
    session = sessions.read(request) or sessions.fresh()
    return _login_page(request, session, next_url=safe_next(next))


@router.post("/admin/login")
async def login(request: Request, rt: RuntimeDep, now: Now) -> Response:
    sessions = sessions_of(request)
    session = sessions.read(request)
    form = await request.form()
    if session is None or not same_token(form.get("csrf_token"), session.csrf):
        raise CsrfRefused()
    email, password = form.get("email"), form.get("password")
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    next_url = safe_next(str(form.get("next") or ""))
    result = await admins.login(rt.db, email=email, password=password, now=now)
    if result.admin is None:
        if result.locked_until is not None:
            error = (
                f"Too many failed sign-ins: this account is locked until "
                f"{result.locked_until:%H:%M} UTC. An operator can unlock it now with "
                f"`sendpool admin unlock EMAIL`."
            )
            status = 429
        else:
            error, status = "Wrong email or password.", 401
        return _login_page(
            request, session, next_url=next_url, email=email, error=error, status=status
        )
    response = RedirectResponse(next_url, status_code=303)
    # A new CSRF token with the new session: nothing from before sign-in carries over.
    sessions.write(request, response, sessions.fresh(result.admin.id, result.admin.stamp))
    return response


@router.post("/admin/logout")
async def logout(request: Request, _: Form) -> Response:
    response = RedirectResponse(LOGIN, status_code=303)
    sessions_of(request).clear(response)
    return response
