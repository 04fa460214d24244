"""The unsubscribe URL of every list message, ``/u/TOKEN``, for recipients: no sign-in.

The signed token is the authority (sendpool.core.unsubscribe): it names one
subscriber on one list, so it needs neither a session nor a CSRF token, and a
mailbox provider's one-click POST (RFC 8058) carries no cookies anyway.

A GET only shows what the button would do: mail scanners and link previews
follow GETs, and a GET alone must never unsubscribe anyone. A POST with
``List-Unsubscribe=One-Click`` (the provider) unsubscribes at once and answers
200 with a short text, no redirect (RFC 8058 §3.2); a POST with
``confirm=yes`` (the page's button) does the same and answers with a page.
A token that is malformed, forged, signed with another key or names nobody
gets the same 404 and changes nothing: the answer tells a guesser nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.datastructures import FormData
from starlette.types import Message

from sendpool.core.unsubscribe import read_unsubscribe_token
from sendpool.errors import NotFoundError
from sendpool.http.context import Now, RuntimeDep
from sendpool.runtime import Runtime
from sendpool.secretbox import UNSUBSCRIBE_PURPOSE
from sendpool.services.lists.unsubscribe import find_recipient, unsubscribe
from sendpool.web.render import SECURITY_HEADERS, templates

router = APIRouter(include_in_schema=False)
MAX_BODY = 4096  # "List-Unsubscribe=One-Click" is 26 bytes; a form field or two more
ONE_CLICK = ("List-Unsubscribe", "One-Click")
CONFIRM = ("confirm", "yes")
DONE_TEXT = "Unsubscribed: this address will get no more mail from this list.\n"
GONE = (
    "Not found",
    "This unsubscribe link is not valid: it may be incomplete (check that the whole link "
    "was copied) or the list no longer exists.",
)


class BodyTooLarge(Exception):
    pass


def mask(email: str) -> str:
    """``j***@example.com``: enough to recognise one's own address, not to learn another's."""
    local, at, domain = email.rpartition("@")
    return f"{local[:1]}***{at}{domain}" if local else "***"


def _page(request: Request, status: int, **context: Any) -> Response:
    response = templates.TemplateResponse(request, "unsubscribe.html", context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _gone(request: Request) -> Response:
    return _page(request, 404, state="gone", title=GONE[0], detail=GONE[1])


def _ids(rt: Runtime, token: str) -> tuple[int, int] | None:
    return read_unsubscribe_token(token, rt.box.derive(UNSUBSCRIBE_PURPOSE))


async def _small_form(request: Request) -> FormData:
    """The POSTed form, refused past MAX_BODY whether or not a Content-Length says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BodyTooLarge()
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=0, max_fields=8)


def _asks(form: FormData, field: tuple[str, str]) -> bool:
    value = form.get(field[0])
    return isinstance(value, str) and value.strip().lower() == field[1].lower()


@router.get("/u/{token}")
async def confirm_page(request: Request, rt: RuntimeDep, token: str) -> Response:
    ids = _ids(rt, token)
    if ids is None:
        return _gone(request)
    try:
        who = await rt.db.run(find_recipient, subscriber_id=ids[0], list_id=ids[1])
    except NotFoundError:
        return _gone(request)
    return _page(
        request,
        200,
        state="confirm",
        token=token.strip().lower(),
        list_name=who.list_name,
        masked=mask(who.email),
        already=who.status == "unsubscribed",
    )


@router.post("/u/{token}")
async def unsubscribe_now(request: Request, rt: RuntimeDep, now: Now, token: str) -> Response:
    try:
        form = await _small_form(request)
    except BodyTooLarge:
        return PlainTextResponse("Request body too large.\n", status_code=413)
    ids = _ids(rt, token)
    if ids is None:
        return _gone(request)
    one_click = _asks(form, ONE_CLICK)
    if not one_click and not _asks(form, CONFIRM):
        return PlainTextResponse(
            "Nothing was changed: send List-Unsubscribe=One-Click (RFC 8058) "
            "or press the button on this page.\n",
            status_code=400,
        )
    source = "one-click" if one_click else "page"
    try:
        done = await rt.db.run(
            unsubscribe, subscriber_id=ids[0], list_id=ids[1], source=source, now=now
        )
    except NotFoundError:
        return _gone(request)
    if one_click:
        return PlainTextResponse(DONE_TEXT, headers=SECURITY_HEADERS)
    return _page(
        request,
        200,
        state="done",
        list_name=done.list_name,
        masked=mask(done.email),
        changed=done.changed,
    )
