"""How admin pages fail: to the sign-in page, or to an error page, never to a JSON problem."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute

from sendpool.errors import InputError, NotFoundError
from sendpool.services.errors import ConflictError
from sendpool.web.render import SECURITY_HEADERS, page

log = logging.getLogger(__name__)

LOGIN = "/admin/login"
HOME = "/admin/pool"


class LoginRequired(Exception):
    """No valid session: the page sends the visitor to sign in and back."""


class CsrfRefused(Exception):
    """A POST whose CSRF token is missing or is not this session's."""


def safe_next(target: str | None) -> str:
    """Only a path on these pages; anything else (another site, //host) goes home."""
    if not target or not target.startswith("/admin/") or target.startswith(LOGIN):
        return HOME
    if "//" in target or "\\" in target or any(c < " " for c in target):
        return HOME
    return target


def _to_login(request: Request) -> Response:
    if request.url.path.endswith(".json"):
        return JSONResponse({"detail": "sign in again"}, status_code=401)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = HOME  # the form's content is lost with the session; start again from home
    return RedirectResponse(f"{LOGIN}?next={quote(safe_next(here))}", status_code=303)


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    """A page in the admin's frame (its header too, when the visitor is signed in)."""
    admin = getattr(request.state, "admin", None)
    return page(request, "error.html", admin=admin, status=status, title=title, detail=detail)


class PageRoute(APIRoute):
    """An admin page: our failures become pages, and every answer gets the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                response = _to_login(request)
            except CsrfRefused:
                response = error_page(
                    request,
                    403,
                    "Form refused",
                    "The form was too old or did not come from these pages (its CSRF token "
                    "did not match your session). Go back, reload the page and try again.",
                )
            except NotFoundError as exc:
                response = error_page(request, 404, "Not found", str(exc))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                detail = f"{where}: {first.get('msg', 'not valid')}"
                response = error_page(request, 400, "Bad request", detail)
            except InputError as exc:
                status = 409 if isinstance(exc, ConflictError) else 422
                response = error_page(request, status, "Not done", str(exc))
            except HTTPException:
                raise
            except Exception as exc:
                # A page that breaks still answers as a page; the traceback goes to the log.
                log.exception("admin page %s failed", request.url.path, exc_info=exc)
                response = error_page(
                    request,
                    500,
                    "Something went wrong",
                    "This page failed on the server. The details are in sendpool's log; "
                    "go back and try again.",
                )
            response.headers.update(SECURITY_HEADERS)
            return response

        return answer
