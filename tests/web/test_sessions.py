"""Stored admin sessions: signing out, a new password and logout-all end them; forgeries open none."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from sendpool.scheduler import Scheduler
from sendpool.services.access import admins, sessions, throttle
from sendpool.store.database import Database
from sendpool.store.tables import AdminSession, table
from sendpool.web.session import COOKIE, Sessions, session_key
from tests.support.admin_world import EMAIL, PASSWORD, Web
from tests.support.browsers import Clock, browsers, fast_hashing
from tests.support.services import PgDatabases
from tests.support.snapshots import db_snapshot

OTHER = "second@example.com"


def stored(web: Web) -> list[AdminSession]:
    T = table(AdminSession)
    return list(web.rt.db.transaction(lambda c: c.execute(select(T).order_by(T.c.id)).all()))


def session_id(web: Web) -> str:
    data = Sessions(session_key(web.rt.settings))._session.loads(web.client.cookies[COOKIE])
    return str(data["i"])


async def signed_in(web: Web) -> bool:
    response = await web.client.get("/admin/pool")
    if response.status_code == 303:
        assert response.headers["location"] == "/admin/login?next=/admin/pool"
        return False
    assert response.status_code == 200
    return True


async def test_the_cookie_names_a_stored_session_kept_only_as_a_hash(admin: Web) -> None:
    sid = session_id(admin)
    ((row,),) = [stored(admin)]
    assert row.token_hash == hashlib.sha256(sid.encode()).hexdigest()
    assert row.revoked_at is None and row.client_address == "127.0.0.1"
    assert row.expires_at - row.created_at == timedelta(hours=12)
    assert sid not in repr(db_snapshot(admin.rt))  # the id itself is nowhere in the database


async def test_signing_out_revokes_the_session_and_the_old_cookie_opens_nothing(
    admin: Web,
) -> None:
    old_cookie = admin.client.cookies[COOKIE]
    response = await admin.post("/admin/logout", {})
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    assert stored(admin)[0].revoked_at is not None
    assert not await signed_in(admin)
    admin.client.cookies.set(COOKIE, old_cookie)  # a copy kept from before signing out
    assert not await signed_in(admin)
    # Its CSRF token is no good any more either.
    forged = await admin.client.post("/admin/plans", data={"name": "Late", "csrf_token": "x"})
    assert forged.status_code == 303


async def test_logout_all_ends_every_browser_of_that_admin_only(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    now = datetime.now(UTC)
    password_hash = admins.hash_password(PASSWORD)
    web.rt.db.transaction(
        admins.create_admin, email=OTHER, password_hash=password_hash, actor="t", now=now
    )
    async with browsers(web.rt, web.ids, Clock()) as b:
        laptop, phone, colleague = b.at("192.0.2.1"), b.at("192.0.2.2"), b.at("192.0.2.3")
        for browser, email in ((laptop, EMAIL), (phone, EMAIL), (colleague, OTHER)):
            assert (await browser.login(email=email)).status_code == 303
        info, ended = web.rt.db.transaction(
            admins.logout_all, email=EMAIL, actor="test", now=datetime.now(UTC)
        )
        assert (info.email, ended) == (EMAIL, 2)
        assert [await signed_in(x) for x in (laptop, phone, colleague)] == [False, False, True]
        assert (await laptop.login()).status_code == 303  # signing in again works


async def test_a_new_password_ends_every_session(admin: Web) -> None:
    new_hash = admins.hash_password("another long password")
    now = datetime.now(UTC)
    admin.rt.db.transaction(
        admins.set_password, email=EMAIL, password_hash=new_hash, actor="t", now=now
    )
    assert not await signed_in(admin)


async def test_a_session_ends_when_idle_and_after_twelve_hours_at_most(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        idle, busy = b.at("192.0.2.1"), b.at("192.0.2.2")
        assert (await idle.login()).status_code == 303
        assert (await busy.login()).status_code == 303
        for _ in range(23):  # one request every 30 min keeps a session from going idle ...
            clock.advance(30 * 60)
            assert await signed_in(busy)
        assert not await signed_in(idle)  # ... the other one idled out after an hour
        clock.advance(30 * 60)
        assert not await signed_in(busy)  # twelve hours after sign-in, whatever happened


async def test_forged_tampered_and_oversized_cookies_open_nothing_and_change_nothing(
    admin: Web,
) -> None:
    sid = session_id(admin)
    mine = Sessions(session_key(admin.rt.settings))._session
    other_key = URLSafeTimedSerializer(b"not sendpool's key", salt="sendpool.admin.session")
    real = admin.client.cookies[COOKIE]
    forgeries = {
        "tampered": real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1],
        "signed with another key": other_key.dumps({"i": sid}),
        "unsigned": sid,
        "oversized": real + "A" * 5000,
        "random id, rightly signed": mine.dumps({"i": "A" * 43}),
        "the stored hash as the id": mine.dumps({"i": stored(admin)[0].token_hash}),
        "an id of the wrong shape": mine.dumps({"i": sid + "=="}),
        "an id that is not text": mine.dumps({"i": 12345}),
        "a list": mine.dumps([sid]),
        "sign-in form only": mine.dumps({"c": "token"}),
    }
    before = db_snapshot(admin.rt)
    for name, value in forgeries.items():
        admin.client.cookies.set(COOKIE, value)
        assert not await signed_in(admin), name
        response = await admin.client.post("/admin/plans", data={"name": "X", "csrf_token": "x"})
        assert response.status_code == 303, name
        assert db_snapshot(admin.rt) == before, name
    admin.client.cookies.set(COOKIE, real)
    assert await signed_in(admin)


async def test_the_csrf_token_belongs_to_one_session(admin: Web) -> None:
    token = await admin.csrf()
    assert (await admin.post("/admin/logout", {})).status_code == 303
    assert (await admin.login()).status_code == 303
    assert await admin.csrf() != token
    refused = await admin.client.post("/admin/plans", data={"name": "X", "csrf_token": token})
    assert refused.status_code == 403


async def test_signing_in_again_ends_the_session_it_replaces(admin: Web) -> None:
    assert (await admin.login()).status_code == 303
    first, second = stored(admin)
    assert first.revoked_at is not None and second.revoked_at is None


async def test_ended_sessions_are_purged_by_the_scheduler(admin: Web) -> None:
    T = table(AdminSession)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    admin.rt.db.transaction(lambda c: c.execute(update(T).values(revoked_at=long_ago)))
    assert (await admin.login()).status_code == 303  # a live one, which stays
    await Scheduler(admin.rt.db, admin.rt.settings).run_due_jobs()
    (left,) = stored(admin)
    assert left.revoked_at is None and await signed_in(admin)
    limits = sessions.limits_from(admin.rt.settings)
    later = datetime.now(UTC) + timedelta(days=2)
    assert admin.rt.db.transaction(sessions.purge_ended, later, limits) >= 1
    assert stored(admin) == []


@pytest.mark.services
async def test_sessions_and_sign_in_counts_on_postgresql(pg_url: str) -> None:
    """The upserts and the session queries in PostgreSQL's dialect, on the machine's server."""
    dbs = PgDatabases(pg_url)
    url = dbs.create()
    db = Database.open(url)
    try:
        now = datetime(2030, 1, 1, tzinfo=UTC)
        password_hash = admins.hash_password(PASSWORD)
        admin = db.transaction(
            admins.create_admin, email=EMAIL, password_hash=password_hash, actor="t", now=now
        )
        for minutes in (0, 1, 2):
            later = now + timedelta(minutes=minutes)
            db.transaction(throttle.record_failure, EMAIL, "192.0.2.1", later)
        counts = db.transaction(throttle.counts_for, EMAIL, "192.0.2.1", now)
        assert (counts.pair.count, counts.address.count, counts.account.count) == (3, 3, 3)
        forgotten = now + timedelta(days=2)
        db.transaction(throttle.record_failure, EMAIL, "192.0.2.1", forgotten)
        assert db.transaction(throttle.counts_for, EMAIL, "192.0.2.1", now).pair.count == 1
        db.transaction(throttle.record_success, EMAIL, "192.0.2.1", forgotten)
        assert db.transaction(throttle.counts_for, EMAIL, "192.0.2.1", forgotten).known_address

        limits = sessions.SessionLimits()
        client = admins.Client("198.51.100.1", "ua")
        wrong = await admins.login(
            db, email=EMAIL, password="wrong password", client=client, now=now, limits=limits
        )
        right = await admins.login(
            db, email=EMAIL, password=PASSWORD, client=client, now=now, limits=limits
        )
        assert (wrong.ok, right.ok, right.token is not None) == (False, True, True)
        db.transaction(sessions.revoke_all, admin.id, now=now)
        token = sessions.new_token()
        db.transaction(
            sessions.open_session, admin_id=admin.id, token=token, client_address="192.0.2.1",
            user_agent="ua", now=now, limits=limits,
        )  # fmt: skip
        found = db.transaction(sessions.session_for, token, now=now, limits=limits)
        assert found is not None and found.email == EMAIL
        listed = db.transaction(sessions.list_sessions, now=now, limits=limits)
        assert [s.active for s in listed] == [True]
        assert db.transaction(sessions.revoke_all, admin.id, now=now) == 1
        assert db.transaction(sessions.session_for, token, now=now, limits=limits) is None
        assert db.transaction(sessions.purge_ended, now + timedelta(days=60), limits) == 5
    finally:
        db.close()
        dbs.drop(url)
        dbs.close()
