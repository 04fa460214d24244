"""The admin session cookie, the CSRF token bound to it, and one-shot flash messages.

A signed-in browser's cookie carries only a random session id, signed; the
session itself lives in the database (``sendpool.services.access.sessions``),
so signing out ends it at once. The CSRF token is an HMAC of the session id:
bound to the session, never stored. A visitor who is not signed in gets a
cookie with a random CSRF token only, so the sign-in form is protected too;
signing in replaces it (no session fixation). Cookies are HttpOnly,
SameSite=Lax, Secure on HTTPS; anything oversized, unsigned or malformed is
no session at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sendpool.config import Settings
from sendpool.secretbox import key_file_for

COOKIE = "sendpool_admin"
FLASH_COOKIE = "sendpool_flash"
# A visitor's CSRF-only cookie lives this long; a signed-in one as long as its stored session.
SESSION_AGE = 12 * 3600
# Ours are about 120 characters; a browser caps cookies at 4 KiB. Longer is not ours.
MAX_COOKIE = 512
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
FLASH_AGE = 120
PATH = "/"


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a cookie says: a CSRF token, and for a signed-in browser its session id."""

    csrf: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Flash:
    """A result to show once on the next page: a saved form, a connection test."""

    kind: str  # ok | error
    title: str
    detail: str = ""
    facts: dict[str, str] = field(default_factory=dict)


def session_key(settings: Settings) -> bytes:
    """Derived from the key that seals server secrets, so there is one key to guard."""
    if settings.secret_key:
        material = settings.secret_key.encode()
    else:
        material = key_file_for(settings.database_url).read_bytes().strip()
    return hmac.new(material, b"sendpool admin sessions v1", hashlib.sha256).digest()


class Sessions:
    def __init__(self, key: bytes) -> None:
        self._session = URLSafeTimedSerializer(key, salt="sendpool.admin.session")
        self._flash = URLSafeTimedSerializer(key, salt="sendpool.admin.flash")
        self._csrf_key = hmac.new(key, b"sendpool admin csrf v1", hashlib.sha256).digest()

    def csrf_for(self, session_id: str) -> str:
        return hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def read(self, request: Request) -> WebSession | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie or len(cookie) > MAX_COOKIE:
            return None
        try:
            # No age check here: the stored session's own limits decide when it ends.
            data: Any = self._session.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        session_id, csrf = data.get("i"), data.get("c")
        if isinstance(session_id, str) and SESSION_ID.fullmatch(session_id):
            return WebSession(self.csrf_for(session_id), session_id)
        if session_id is None and isinstance(csrf, str) and 0 < len(csrf) <= 64:
            return WebSession(csrf)
        return None

    @staticmethod
    def fresh() -> WebSession:
        """A visitor's session before sign-in: a CSRF token and nothing else."""
        return WebSession(secrets.token_urlsafe(32))

    def signed_in(self, session_id: str) -> WebSession:
        return WebSession(self.csrf_for(session_id), session_id)

    def write(
        self,
        request: Request,
        response: Response,
        session: WebSession,
        max_age: float = SESSION_AGE,
    ) -> None:
        data = {"i": session.session_id} if session.session_id else {"c": session.csrf}
        response.set_cookie(
            COOKIE,
            self._session.dumps(data),
            max_age=int(max_age),
            path=PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax")

    def flash(self, request: Request, response: Response, message: Flash) -> None:
        data = asdict(message)
        data["detail"] = data["detail"][:1500]
        data["facts"] = dict(list(message.facts.items())[:20])
        response.set_cookie(
            FLASH_COOKIE,
            self._flash.dumps(data),
            max_age=FLASH_AGE,
            path=PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def take_flash(self, request: Request) -> Flash | None:
        cookie = request.cookies.get(FLASH_COOKIE)
        if not cookie:
            return None
        try:
            data: Any = self._flash.loads(cookie, max_age=FLASH_AGE)
            return Flash(
                str(data["kind"]),
                str(data["title"]),
                str(data["detail"]),
                {str(k): str(v) for k, v in dict(data["facts"]).items()},
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None

    @staticmethod
    def drop_flash(response: Response) -> None:
        response.delete_cookie(FLASH_COOKIE, path=PATH, httponly=True, samesite="lax")


def same_token(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
