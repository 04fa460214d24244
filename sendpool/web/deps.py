"""What admin pages depend on: a signed-in admin, and POSTed forms with this session's CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access import sessions
from sendpool.web.render import SignedIn, sessions_of
from sendpool.web.route import CsrfRefused, LoginRequired
from sendpool.web.session import same_token


async def signed_in(request: Request, rt: RuntimeDep, now: Now) -> SignedIn:
    """The admin whose stored session the cookie names; revoked, idle or expired is none."""
    session = sessions_of(request).read(request)
    if session is None or session.session_id is None:
        raise LoginRequired()
    limits = sessions.limits_from(rt.settings)
    active = await rt.db.run(sessions.session_for, session.session_id, now=now, limits=limits)
    if active is None:
        raise LoginRequired()
    admin = SignedIn(active.admin_id, active.email, session.csrf, active.id)
    request.state.admin = admin  # error pages keep the header of a signed-in admin
    return admin


Admin = Annotated[SignedIn, Depends(signed_in)]


async def posted_form(request: Request, admin: Admin) -> FormData:
    """The form, once its CSRF token is known to be this session's."""
    form = await request.form()
    if not same_token(form.get("csrf_token"), admin.csrf):
        raise CsrfRefused()
    return form


Form = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
