"""Admin sessions in a signed cookie, their CSRF token, and one-shot flash messages.

The cookie holds the admin's id, a stamp of their password hash (a new
password ends every session made with the old one) and a random CSRF token.
It is signed with a key derived from sendpool's secret key, HttpOnly,
SameSite=Lax, Secure on HTTPS, and expires SESSION_AGE after sign-in. A
visitor who is not signed in gets a session with a CSRF token only, so the
sign-in form is protected too; signing in replaces it (no session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sendpool.config import Settings
from sendpool.secretbox import key_file_for

COOKIE = "sendpool_admin"
FLASH_COOKIE = "sendpool_flash"
SESSION_AGE = 12 * 3600
FLASH_AGE = 120
PATH = "/"


@dataclass(frozen=True, slots=True)
class WebSession:
    csrf: str
    admin_id: int | None = None
    stamp: str | None = None


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

    def read(self, request: Request) -> WebSession | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data: Any = self._session.loads(cookie, max_age=SESSION_AGE)
            return WebSession(
                csrf=str(data["c"]),
                admin_id=int(data["u"]) if data.get("u") is not None else None,
                stamp=str(data["s"]) if data.get("s") is not None else None,
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None

    @staticmethod
    def fresh(admin_id: int | None = None, stamp: str | None = None) -> WebSession:
        return WebSession(secrets.token_urlsafe(32), admin_id, stamp)

    def write(self, request: Request, response: Response, session: WebSession) -> None:
        value = self._session.dumps({"c": session.csrf, "u": session.admin_id, "s": session.stamp})
        response.set_cookie(
            COOKIE,
            value,
            max_age=SESSION_AGE,
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
