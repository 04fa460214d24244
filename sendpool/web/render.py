"""Templates and how pages are answered: shared context, flash messages, security headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from sendpool.web.session import Flash, Sessions

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Pages load their own CSS and JS only: no inline script, no inline style, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The admin behind this request, and the CSRF token their forms carry."""

    id: int
    email: str
    csrf: str
    session_id: int = 0  # the stored session's row, which signing out revokes

    @property
    def actor(self) -> str:
        """Who the audit log names for what this admin does."""
        return f"admin:{self.email}"


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.admin_sessions
    return sessions


def redirect_with_flash(request: Request, to: str, flash: Flash) -> RedirectResponse:
    """After a form: 303 to the page to show, with the result in a one-time flash."""
    response = RedirectResponse(to, status_code=303)
    sessions_of(request).flash(request, response, flash)
    return response


def number(n: int | float | None) -> str:
    if n is None:
        return "–"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}"
    return f"{int(n):,}"


def percent(used: int, cap: int) -> float:
    """How full a window is, 0-100; a zero cap is full (it sends nothing)."""
    if cap <= 0:
        return 100.0
    return min(100.0, 100.0 * used / cap)


def ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = int((now - at).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{at:%Y-%m-%d}"


def until(at: datetime, now: datetime) -> str:
    """How long from ``now`` to ``at``, as people say it: 45 s, 9 min, 7 h 18 min, 2 d 3 h."""
    s = max(0, round((at - now).total_seconds()))
    if s < 60:
        return f"{s} s"
    m = round(s / 60)
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    days, h = divmod(h, 24)
    return f"{days} d {h} h" if h else f"{days} d"


def utc(at: datetime | None) -> str:
    return "–" if at is None else f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


templates.env.filters.update(number=number, utc=utc)
templates.env.globals.update(percent=percent, ago=ago, until=until)


def page(
    request: Request,
    template: str,
    *,
    admin: SignedIn | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page, with the flash message left by the previous request, once."""
    sessions = sessions_of(request)
    flash = sessions.take_flash(request)
    ctx = {"admin": admin, "flash": flash, "now": datetime.now(UTC), **context}
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    if flash is not None:
        sessions.drop_flash(response)
    return response
