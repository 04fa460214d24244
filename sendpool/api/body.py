"""Request bodies as clients really send them: JSON under any label, and never too big.

``curl -d '{"sending_limit": 5000}'`` labels its JSON as form data; a route
that takes a JSON body reads it as JSON whatever the label says. Uploads
(multipart/form-data) keep their label and get a larger size limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendpool.api.errors import problem

MULTIPART = "multipart/form-data"


class JsonBodyRoute(APIRoute):
    """A route whose JSON body is read as JSON, whatever its Content-Type label."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def relabelled(request: Request) -> Response:
            label = request.headers.get("content-type", "")
            if not label.lower().startswith(MULTIPART):
                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                headers.append((b"content-type", b"application/json"))
                request = Request({**request.scope, "headers": headers}, request.receive)
                refused = _unreadable_number(await request.body())  # read once, kept
                if refused is not None:
                    return refused
            return await handler(request)

        return relabelled


def _unreadable_number(body: bytes) -> Response | None:
    """A number Python will not read (over 4300 digits) is bad input, not a 400 or a 500.

    json.loads raises a plain ValueError for it, which FastAPI answers as "error
    parsing the body"; any other unreadable body is left to FastAPI's own 422.
    """
    if not body:
        return None
    try:
        json.loads(body)
    except json.JSONDecodeError:
        return None
    except (ValueError, RecursionError) as exc:
        said = f"the body holds a value sendpool cannot read ({exc})"
        return problem(422, f"body: {said}", [("body", said)])
    return None


class BodyLimit:
    """Refuse bodies over the limit with 413, by Content-Length or while they stream in."""

    def __init__(self, app: ASGIApp, *, max_json: int, max_upload: int) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").lower().startswith(MULTIPART)
        limit = self.max_upload if upload else self.max_json
        what = "an upload" if upload else "a JSON body"
        too_big = f"the request body is larger than {limit} bytes, the limit for {what}"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            response = (
                problem(413, too_big) if length.isdigit() else problem(400, "bad Content-Length")
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException passes through FastAPI's body reading untouched.
                    raise HTTPException(413, too_big)
            return message

        await self.app(scope, counted, send)
