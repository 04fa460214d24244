"""The server page's Resume button: the one way on the pages to undo a pause, and only a pause."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select, update

from sendpool.services.servers.queries import get_server
from sendpool.store.tables import AuditEntry, SendingServer
from tests.support.admin_world import EMAIL, Web
from tests.support.snapshots import db_snapshot
from tests.web.test_forms import flash

REASON = "complaint rate 0.31 % over 2,140 sends"
_RESUME_FORM = re.compile(
    r'<form method="post" action="/admin/servers/([^/"]+)/resume"[^>]*>\s*'
    r'<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
    r'<button class="primary" type="submit">Resume</button>'
)


def _set_status(web: Web, uid: str, status: str, reason: str | None) -> None:
    web.rt.db.transaction(
        lambda conn: conn.execute(
            update(SendingServer)
            .where(SendingServer.uid == uid)
            .values(status=status, status_reason=reason)
        )
    )


def _audit(web: Web, action: str) -> list[tuple[str, dict[str, object]]]:
    rows = web.rt.db.transaction(
        lambda conn: conn.execute(
            select(AuditEntry.actor, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        ).all()
    )
    return [(actor, detail) for actor, detail in rows]


async def _paused(admin: Web) -> str:
    """A server created on the page, then paused as the inbound side pauses one."""
    form = {"type": "smtp", "host": "127.0.0.1", "port": "2525", "encryption": "none",
            "name": "relay-paused", "sending_limit": "1000", "max_connections": "4",
            "timezone": "UTC", "enabled": "on"}  # fmt: skip
    created = await admin.post("/admin/servers/new", form)
    assert created.status_code == 303, created.text
    uid = created.headers["location"].rsplit("/", 1)[-1]
    _set_status(admin, uid, "paused", REASON)
    return uid


async def _follow(admin: Web, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    return await admin.client.get(response.headers["location"])


async def test_a_paused_servers_page_shows_the_reason_and_a_resume_button(admin: Web) -> None:
    uid = await _paused(admin)
    page = (await admin.client.get(f"/admin/servers/{uid}")).text
    banner = re.search(r'data-test="paused-reason">([^<]*)<', page)
    assert banner is not None
    assert f"Paused: {REASON}." in banner.group(1) and "Resume" in banner.group(1)
    assert "Make it active again (Enabled)" not in page
    found = _RESUME_FORM.search(page)
    assert found is not None, "no Resume form"
    assert found.group(1) == uid and found.group(2) == await admin.csrf()

    active = (await admin.client.get(f"/admin/servers/{admin.ids['server_smtp']}")).text
    assert _RESUME_FORM.search(active) is None and 'data-test="paused"' not in active


async def test_resume_makes_it_active_clears_the_reason_and_is_audited(admin: Web) -> None:
    uid = await _paused(admin)
    updates = len(_audit(admin, "server.update"))
    shown = await _follow(admin, await admin.post(f"/admin/servers/{uid}/resume", {}))
    assert shown.url.path == f"/admin/servers/{uid}"
    assert flash(shown) == "Resumed" and "relay-paused sends again." in shown.text
    assert _RESUME_FORM.search(shown.text) is None and 'data-test="paused"' not in shown.text

    server = admin.rt.db.transaction(get_server, admin.rt.box, uid)
    assert (server.status, server.status_reason) == ("active", None)
    entries = _audit(admin, "server.update")
    assert len(entries) == updates + 1
    actor, detail = entries[-1]
    assert actor == f"admin:{EMAIL}"
    assert detail["server"] == "relay-paused"
    assert detail["changes"] == {
        "status": {"from": "paused", "to": "active"},
        "status_reason": {"from": REASON, "to": None},
    }


@pytest.mark.parametrize("token", [None, "", "forged", "x" * 5000])
async def test_resume_without_this_sessions_csrf_token_is_refused(
    admin: Web, token: str | None
) -> None:
    uid = await _paused(admin)
    before = db_snapshot(admin.rt)
    data = {} if token is None else {"csrf_token": token}
    response = await admin.client.post(f"/admin/servers/{uid}/resume", data=data)
    assert response.status_code == 403 and "Form refused" in response.text
    assert db_snapshot(admin.rt) == before
    server = admin.rt.db.transaction(get_server, admin.rt.box, uid)
    assert (server.status, server.status_reason) == ("paused", REASON)


async def test_resume_after_signing_out_goes_to_sign_in_and_changes_nothing(admin: Web) -> None:
    uid = await _paused(admin)
    token = await admin.csrf()
    signed_out = await admin.client.post("/admin/logout", data={"csrf_token": token})
    assert signed_out.status_code == 303
    before = db_snapshot(admin.rt)
    response = await admin.client.post(f"/admin/servers/{uid}/resume", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")
    assert db_snapshot(admin.rt) == before


@pytest.mark.parametrize("uid", ["nope", "0" * 32, "relay%20that%20is%20not"])
async def test_resume_of_an_unknown_server_is_the_pages_404(admin: Web, uid: str) -> None:
    before = db_snapshot(admin.rt)
    response = await admin.post(f"/admin/servers/{uid}/resume", {})
    assert response.status_code == 404
    assert "Not found" in response.text and "<html" in response.text
    assert db_snapshot(admin.rt) == before


@pytest.mark.parametrize("status", ["active", "disabled"])
async def test_resume_of_a_server_that_is_not_paused_changes_nothing(
    admin: Web, status: str
) -> None:
    uid = admin.ids["server_smtp"]
    _set_status(admin, uid, status, None)
    before = db_snapshot(admin.rt)
    shown = await _follow(admin, await admin.post(f"/admin/servers/{uid}/resume", {}))
    assert flash(shown) == "Not paused"
    assert f"is {status}: nothing to resume" in shown.text
    assert db_snapshot(admin.rt) == before  # no change, no audit entry
    server = admin.rt.db.transaction(get_server, admin.rt.box, uid)
    assert (server.status, server.status_reason) == (status, None)


async def test_resume_twice_resumes_once(admin: Web) -> None:
    uid = await _paused(admin)
    updates = len(_audit(admin, "server.update"))
    first = await _follow(admin, await admin.post(f"/admin/servers/{uid}/resume", {}))
    second = await _follow(admin, await admin.post(f"/admin/servers/{uid}/resume", {}))
    assert (flash(first), flash(second)) == ("Resumed", "Not paused")
    assert len(_audit(admin, "server.update")) == updates + 1
