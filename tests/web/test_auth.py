"""Signing in: the cookie, CSRF on every form, and throttled failures that never lock anyone out."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Connection, select, update
from starlette.requests import Request

from sendpool.services.access import admins, throttle
from sendpool.services.tenancy.plans import list_plans
from sendpool.store.tables import SigninCounter, table
from sendpool.web.client import client_address
from sendpool.web.session import COOKIE
from tests.support.admin_world import EMAIL, PASSWORD, Web
from tests.support.browsers import Clock, browsers, fast_hashing
from tests.support.world import client_for

WRONG = "not the password at all"
REFUSED = "Wrong email or password."


def counters(web: Web) -> dict[tuple[str, str, str], int]:
    T = table(SigninCounter)
    rows = web.rt.db.transaction(
        lambda c: c.execute(select(T.c.scope, T.c.account, T.c.client_address, T.c.failures)).all()
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows}


def retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after")
    return None if value is None else int(value)


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
    wrong = await web.login(password=WRONG)
    unknown = await web.login(email="nobody@example.com")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert REFUSED in response.text and "locked" not in response.text
    assert wrong.text.replace(EMAIL, "") == unknown.text.replace("nobody@example.com", "")
    assert (await web.client.get("/admin/pool")).status_code == 303
    # Both are counted alike, so later delays tell nothing about which accounts exist.
    got = counters(web)
    assert got[("pair", EMAIL, "127.0.0.1")] == got[("pair", "nobody@example.com", "127.0.0.1")]
    assert got[("address", "", "127.0.0.1")] == 2


async def test_a_strangers_guesses_from_one_address_never_stop_the_admin_elsewhere(
    web: Web,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        stranger, admin = b.at("203.0.113.7"), b.at("198.51.100.2")
        for _ in range(20):
            response = await stranger.login(password=WRONG)
            assert response.status_code == 401 and REFUSED in response.text
            clock.advance(retry_after(response) or 0)  # wait each delay out: all 20 are checked
        assert counters(web)[("pair", EMAIL, "203.0.113.7")] == 20
        assert (await admin.login()).status_code == 303
        assert (await admin.client.get("/admin/pool")).status_code == 200
        # Even hammering without waiting, from the same address, changes nothing for them.
        for _ in range(20):
            assert (await stranger.login(password=WRONG)).status_code == 401
        other = b.at("198.51.100.3")
        assert (await other.login()).status_code == 303


async def test_the_guessing_address_waits_longer_after_each_failure(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        stranger = b.at("203.0.113.7")
        waits = []
        for _ in range(8):
            response = await stranger.login(password=WRONG)
            assert response.status_code == 401 and REFUSED in response.text
            waits.append(retry_after(response))
            clock.advance(retry_after(response) or 0)
        assert waits == [None, None, 1, 2, 4, 8, 16, 32]
        # Trying again before the wait is over: the same page, the wait left, nothing counted.
        before = counters(web)
        clock.advance(-10)
        early = await stranger.login()  # even the right password is not looked at
        assert (early.status_code, retry_after(early)) == (401, 10)
        assert REFUSED in early.text and counters(web) == before
        clock.advance(10)
        assert (await stranger.login()).status_code == 303
        assert ("pair", EMAIL, "203.0.113.7") not in counters(web)  # a success starts it again


async def test_a_burst_of_concurrent_guesses_gets_no_more_checks_than_one_by_one(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    async with browsers(web.rt, web.ids, Clock()) as b:
        stranger = b.at("203.0.113.7")
        token = await stranger.csrf("/admin/login")
        form = {"email": EMAIL, "password": WRONG, "csrf_token": token}
        burst = await asyncio.gather(
            *(stranger.client.post("/admin/login", data=form) for _ in range(20))
        )
        assert {r.status_code for r in burst} == {401}
        # Each try is counted before its password is checked, so the burst saw its own failures.
        assert counters(web)[("pair", EMAIL, "203.0.113.7")] == throttle.POLICY.pair_free


async def test_a_delay_never_grows_past_fifteen_minutes(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        stranger = b.at("203.0.113.7")
        for _ in range(3):
            await stranger.login(password=WRONG)
        T = table(SigninCounter)
        web.rt.db.transaction(lambda c: c.execute(update(T).values(failures=10_000)))
        clock.advance(1)
        assert retry_after(await stranger.login(password=WRONG)) == 900 - 1


async def test_many_addresses_slow_the_account_down_for_a_minute_at_most(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        usual = b.at("198.51.100.2")
        assert (await usual.login()).status_code == 303  # this address is now known
        for i in range(throttle.POLICY.account_free + 10):  # a botnet: one guess per address
            assert (
                await b.at(f"10.9.{i // 250}.{i % 250}").login(password=WRONG)
            ).status_code == 401
        travelling = await b.at("192.0.2.44").login()
        assert travelling.status_code == 401 and 0 < (retry_after(travelling) or 0) <= 60
        assert (await b.at("198.51.100.2").login()).status_code == 303  # known: not slowed
        clock.advance(60)
        assert (await b.at("192.0.2.44").login()).status_code == 303


async def test_an_unknown_account_is_slowed_down_exactly_like_a_real_one(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        seen: dict[str, list[int | None]] = {}
        for i, email in enumerate((EMAIL, "nobody@example.com")):
            guesser = b.at(f"203.0.113.{10 + i}")
            seen[email] = []
            for _ in range(6):
                response = await guesser.login(email=email, password=WRONG)
                seen[email].append(retry_after(response))
                clock.advance(1)  # not always enough: some attempts are answered "wait"
        assert seen[EMAIL] == seen["nobody@example.com"]


async def test_unlock_forgets_the_failures(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashing(monkeypatch, web.rt)
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        guesser = b.at("203.0.113.7")
        for _ in range(5):
            await guesser.login(password=WRONG)
        assert (await guesser.login()).status_code == 401  # must wait
        now = datetime.now(UTC)
        web.rt.db.transaction(admins.unlock_admin, email=EMAIL, actor="test", now=now)
        assert (await guesser.login()).status_code == 303


def _forget_account_counts(conn: Connection) -> None:
    T = table(SigninCounter)
    conn.execute(T.delete().where(T.c.scope == "account"))


@pytest.mark.slow  # ninety real argon2 verifications
async def test_unknown_wrong_and_delayed_take_the_same_time(web: Web) -> None:
    """One argon2 verification each; medians compared to each other, never to a wall clock."""
    clock = Clock()
    async with browsers(web.rt, web.ids, clock) as b:
        delayed = b.at("203.0.113.99")
        for _ in range(12):  # then 2**9 s to wait, on a clock that stands still: delayed throughout
            clock.advance(retry_after(await delayed.login(password=WRONG)) or 0)
        kinds = {"unknown": [], "wrong": [], "delayed": []}  # type: dict[str, list[float]]
        for i in range(15):
            for kind in kinds:
                browser = delayed if kind == "delayed" else b.at(f"10.{i}.{len(kind)}.1")
                email = f"nobody{i}@example.com" if kind == "unknown" else EMAIL
                token = await browser.csrf("/admin/login")
                form = {"email": email, "password": WRONG, "csrf_token": token}
                started = time.perf_counter()
                response = await browser.client.post("/admin/login", data=form)
                kinds[kind].append(time.perf_counter() - started)
                assert response.status_code == 401 and REFUSED in response.text
            # Fifteen wrong passwords from fifteen addresses would start the account-wide wait.
            web.rt.db.transaction(_forget_account_counts)
        assert retry_after(response) is not None  # the delayed browser was delayed all along
    medians = {kind: statistics.median(times) for kind, times in kinds.items()}
    for a in medians:
        for b_ in medians:
            assert 0.5 <= medians[a] / medians[b_] <= 2.0, medians


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
    assert counters(web) == {}


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    # No proxies trusted: whatever the header says, the socket's peer.
    assert client_address(_request("203.0.113.7", "10.0.0.1"), "") == "203.0.113.7"
    # A peer that is not a trusted proxy cannot choose its address either.
    assert client_address(_request("203.0.113.7", "10.0.0.1"), "127.0.0.1") == "203.0.113.7"
    # Behind trusted proxies: the last hop that is not one of them, read from the right.
    trusted = "127.0.0.1, 10.0.0.0/8"
    made_up = _request("127.0.0.1", "1.2.3.4, 198.51.100.9", "10.0.0.5")
    assert client_address(made_up, trusted) == "198.51.100.9"
    assert client_address(_request("127.0.0.1", "10.0.0.5"), trusted) == "10.0.0.5"
    assert client_address(_request("127.0.0.1", "garbage, 10.0.0.5"), trusted) == "10.0.0.5"
    assert client_address(_request("127.0.0.1"), trusted) == "127.0.0.1"
    assert client_address(_request("::ffff:192.0.2.1"), "") == "192.0.2.1"


def test_ipv6_clients_are_counted_by_their_slash_64() -> None:
    assert throttle.address_key("2001:db8:1:2:aaaa::1") == throttle.address_key("2001:db8:1:2::ff")
    assert throttle.address_key("2001:db8:1:3::1") != throttle.address_key("2001:db8:1:2::1")
    assert throttle.address_key("192.0.2.1") == "192.0.2.1"
    assert throttle.address_key("testclient") == "testclient"
