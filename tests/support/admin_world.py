"""The API world plus an admin user, a bounce mailbox and one recorded skip, for the admin pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import Connection

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.access import admins
from sendpool.store.tables import DispatchSkip, table
from sendpool.web.views import servers as server_views
from tests.support.settings import make_settings
from tests.support.world import seed_world

EMAIL, PASSWORD = "ops@example.com", "correct horse battery staple"
BOUNCE_SECRET = "SECRET-bounce-mailbox-31f7"
SKIP_REASON = "daily cap 1000/1000 used"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebTemplate:
    path: Path
    key: str
    ids: dict[str, str]


def _extras(conn: Connection, rt: Runtime, ids: dict[str, str], now: datetime) -> None:
    """An admin, a bounce mailbox with a password, and one recorded skip."""
    admins.create_admin(
        conn, email=EMAIL, password_hash=admins.hash_password(PASSWORD), actor="t", now=now
    )
    handler = {"enabled": True, "host": "imap.example.com", "port": 993, "username": "bounces",
               "password": BOUNCE_SECRET}  # fmt: skip
    server_views.save_server(
        conn, rt.box, ids["server_smtp"], changes={}, handlers={"bounce_handler": handler},
        actor="t", now=now,
    )  # fmt: skip
    conn.execute(
        table(DispatchSkip)
        .insert()
        .values(
            plan_id=refs.plan_id(conn, ids["plan"]),
            server_id=refs.server_id(conn, ids["server_ses"]),
            day=now.date().isoformat(),
            code="daily_cap",
            count=7,
            last_reason=SKIP_REASON,
        )
    )


def build_web_template(folder: Path) -> WebTemplate:
    key = Fernet.generate_key().decode()
    rt = Runtime.open(make_settings(folder, secret_key=key))
    try:
        ids, _tokens, _markers = seed_world(rt)
        rt.db.transaction(_extras, rt, ids, datetime.now(UTC))
    finally:
        rt.close()
    return WebTemplate(folder / "sendpool.db", key, ids)


@dataclass
class Web:
    rt: Runtime
    client: httpx.AsyncClient
    ids: dict[str, str]

    async def csrf(self, url: str = "/admin/pool") -> str:
        found = _CSRF.search((await self.client.get(url)).text)
        assert found is not None, f"no CSRF token on {url}"
        return found.group(1)

    async def login(self, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
        token = await self.csrf("/admin/login")
        return await self.client.post(
            "/admin/login", data={"email": email, "password": password, "csrf_token": token}
        )

    async def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        """POST a form as the page would: with this session's CSRF token."""
        return await self.client.post(url, data={"csrf_token": await self.csrf(), **data})
