"""Signing in: sessions, CSRF on every form, lockout after repeated failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from sendpool.services.access import admins
from sendpool.services.tenancy.plans import list_plans
from sendpool.store.tables import AdminUser, AuditEntry, table
from sendpool.web.session import COOKIE
from tests.support.admin_world import EMAIL, PASSWORD, Web
from tests.support.world import client_for


def _user(web: Web) -> tuple[int, datetime | None]:
    row = web.rt.db.transaction(
        lambda c: c.execute(
            select(AdminUser.failed_logins, AdminUser.locked_until).where(AdminUser.email == EMAIL)
        ).one()
    )
    return int(row[0]), row[1]


async def test_sign_in_sets_a_safe_session_cookie_and_goes_back_where_asked(web: Web) -> None:
    token = await web.csrf("/admin/login?next=/admin/plans")
    form = {"email": "OPS@example.com ", "password": PASSWORD, "csrf_token": token,
            "next": "/admin/plans"}  # fmt: skip
    response = await web.client.post("/admin/login", data=form)
    assert (response.status_code, response.headers["location"]) == (303, "/admin/plans")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert (await web.client.get("/admin/plans")).status_code == 200


async def test_next_never_leaves_the_admin_pages(web: Web) -> None:
    for target in ("https://evil.example/", "//evil.example/admin/", "/admin/..//evil", "/api/v1"):
        token = await web.csrf("/admin/login")
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": token, "next": target}
        response = await web.client.post("/admin/login", data=form)
        assert response.headers["location"] == "/admin/pool", target


async def test_wrong_password_and_unknown_email_get_the_same_answer(web: Web) -> None:
    wrong = await web.login(password="not the password at all")
    unknown = await web.login(email="nobody@example.com")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong email or password." in response.text
    assert (await web.client.get("/admin/pool")).status_code == 303
    assert _user(web)[0] == 1


async def test_repeated_failures_lock_the_account_even_for_the_right_password(web: Web) -> None:
    for _ in range(admins.MAX_FAILURES - 1):
        assert (await web.login(password="guess-guess-guess")).status_code == 401
    locking = await web.login(password="guess-guess-guess")
    assert locking.status_code == 429 and "locked until" in locking.text
    right = await web.login()
    assert right.status_code == 429 and "sendpool admin unlock" in right.text
    failures, until = _user(web)
    assert failures == admins.MAX_FAILURES and until is not None
    assert until - datetime.now(UTC) <= admins.LOCK_FOR
    actions = web.rt.db.transaction(lambda c: list(c.execute(select(AuditEntry.action)).scalars()))
    assert actions.count("admin_user.lock") == 1

    now = datetime.now(UTC)
    web.rt.db.transaction(admins.unlock_admin, email=EMAIL, actor="test", now=now)
    assert (await web.login()).status_code == 303
    assert _user(web) == (0, None)


async def test_a_lock_runs_out_and_the_count_starts_again(web: Web) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    web.rt.db.transaction(
        lambda c: c.execute(
            update(table(AdminUser)).values(failed_logins=admins.MAX_FAILURES, locked_until=past)
        )
    )
    assert (await web.login(password="still wrong, sorry")).status_code == 401
    assert _user(web) == (1, None)
    assert (await web.login()).status_code == 303
    assert _user(web) == (0, None)


async def test_forms_without_this_sessions_csrf_token_are_refused(admin: Web) -> None:
    before = admin.rt.db.transaction(list_plans)
    for data in ({"name": "Sneaky"}, {"name": "Sneaky", "csrf_token": "forged"}):
        response = await admin.client.post("/admin/plans", data=data)
        assert response.status_code == 403 and "Form refused" in response.text
    assert admin.rt.db.transaction(list_plans) == before
    # A token from another admin's session does not fit this one.
    async with client_for(admin.rt) as other_client:
        other = Web(admin.rt, other_client, admin.ids)
        await other.login()
        stolen = await other.csrf()
    response = await admin.client.post("/admin/plans", data={"name": "X", "csrf_token": stolen})
    assert response.status_code == 403
    assert admin.rt.db.transaction(list_plans) == before


async def test_the_sign_in_form_needs_its_csrf_token_too(web: Web) -> None:
    response = await web.client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert _user(web) == (0, None)


async def test_signing_out_ends_the_session(admin: Web) -> None:
    response = await admin.post("/admin/logout", {})
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    assert (await admin.client.get("/admin/pool")).status_code == 303


async def test_a_new_password_ends_sessions_made_with_the_old_one(admin: Web) -> None:
    new_hash = admins.hash_password("another long password")
    now = datetime.now(UTC)
    admin.rt.db.transaction(
        admins.set_password, email=EMAIL, password_hash=new_hash, actor="t", now=now
    )
    assert (await admin.client.get("/admin/pool")).status_code == 303


async def test_a_tampered_cookie_is_no_session(admin: Web) -> None:
    value = admin.client.cookies[COOKIE]
    admin.client.cookies.set(COOKIE, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert (await admin.client.get("/admin/pool")).status_code == 303
