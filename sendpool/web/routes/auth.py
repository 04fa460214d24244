"""Signing in and out; ``/`` sends a visitor to the pool, or to sign in first.

A wrong password, an unknown email and a client told to wait after failed
sign-ins all get the same page, the same status (401) and take the same time;
when a wait applies, Retry-After says how long (sendpool.core.signin).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sendpool.core.signin import retry_after_seconds
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access import admins, sessions
from sendpool.web.client import client_address, user_agent
from sendpool.web.deps import Admin, Form
from sendpool.web.render import page, sessions_of
from sendpool.web.route import HOME, LOGIN, CsrfRefused, PageRoute, safe_next
from sendpool.web.session import WebSession, same_token

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Next = Annotated[str | None, Query(max_length=2000)]
REFUSED = (
    "Wrong email or password. After repeated failures each new try must wait a little "
    "longer (at most 15 minutes); an operator can lift that with `sendpool admin unlock EMAIL`."
)


@router.get("/")
async def root(request: Request) -> Response:
    session = sessions_of(request).read(request)
    signed = session is not None and session.session_id is not None
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
    cookies = sessions_of(request)
    session = cookies.read(request) or cookies.fresh()
    return _login_page(request, session, next_url=safe_next(next))


@router.post("/admin/login")
async def login(request: Request, rt: RuntimeDep, now: Now) -> Response:
    cookies = sessions_of(request)
    session = cookies.read(request)
    form = await request.form()
    if session is None or not same_token(form.get("csrf_token"), session.csrf):
        raise CsrfRefused()
    email, password = form.get("email"), form.get("password")
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    next_url = safe_next(str(form.get("next") or ""))
    client = admins.Client(
        client_address(request, rt.settings.trusted_proxies), user_agent(request)
    )
    limits = sessions.limits_from(rt.settings)
    result = await admins.login(
        rt.db, email=email, password=password, client=client, now=now, limits=limits
    )
    if result.admin is None or result.token is None:
        response = _login_page(
            request, session, next_url=next_url, email=email, error=REFUSED, status=401
        )
        if result.retry_at is not None:
            response.headers["Retry-After"] = str(retry_after_seconds(result.retry_at, now))
        return response
    if session.session_id is not None:  # signed in again over a live session: that one ends
        await rt.db.run(sessions.revoke_token, session.session_id, now=now)
    response = RedirectResponse(next_url, status_code=303)
    # A new session id and CSRF token: nothing from before sign-in carries over.
    max_age = rt.settings.admin_session_max_age
    cookies.write(request, response, cookies.signed_in(result.token), max_age)
    return response


@router.post("/admin/logout")
async def logout(request: Request, rt: RuntimeDep, now: Now, admin: Admin, _: Form) -> Response:
    """Revoked in the database at once: the old cookie opens nothing any more."""
    await rt.db.run(sessions.revoke, admin.session_id, now=now)
    response = RedirectResponse(LOGIN, status_code=303)
    sessions_of(request).clear(response)
    return response
