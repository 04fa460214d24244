"""The unsubscribe URL as recipients and mailbox providers use it, against real sends.

A campaign goes out to SMTP sinks on loopback; the ``List-Unsubscribe`` URL is
taken from the message a sink received. A provider's one-click POST (RFC 8058:
no cookies, no JavaScript) unsubscribes at once; a GET never does; a second
POST changes nothing; a forged, cut, re-signed or unknown token is a 404 that
changes nothing. In Chromium at a phone's width a person reads the page,
presses the button and is unsubscribed.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from sendpool.config import Settings
from sendpool.core.unsubscribe import make_unsubscribe_token
from sendpool.runtime import Runtime
from sendpool.secretbox import UNSUBSCRIBE_PURPOSE
from sendpool.services.lists.subscribers import FieldValue, add_subscribers, create_list
from sendpool.services.messages.log import message_log
from sendpool.services.tenancy import customers
from sendpool.sinks import SmtpSink
from sendpool.store.tables import Customer, DeliveryEvent, Subscriber, Suppression
from sendpool.web.routes.unsubscribe import MAX_BODY, mask
from tests.support.live_serve import CHROMIUM_ARGS, ensure_chromium, save_screenshots, serving
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.sinks import StartSinks
from tests.support.snapshots import db_snapshot
from tests.support.world import client_for

JANE, BOB = "Jane.Doe@example.com", "bob@example.org"
PEOPLE = f"email,first_name\n{JANE},Jane\n{BOB},Bob\n"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
HANG_GUARD_MS = 120_000  # Playwright waits: a guard against hangs, never a speed check


@dataclass
class Sent:
    rt: Runtime
    sink: SmtpSink
    client: httpx.AsyncClient
    campaign_id: int


@pytest.fixture
async def sent(runtime: Runtime, sinks: StartSinks) -> AsyncIterator[Sent]:
    """Two people sent one campaign through a sink; a client with no cookies."""
    [sink] = await sinks(1)
    pool_of_sinks(runtime, [sink])
    campaign_id, uid = make_campaign(
        runtime, 2, csv=PEOPLE, text="Hi {{ first_name }}\nLeave: {{ unsubscribe_url }}\n"
    )
    await send_until_settled(runtime, uid)
    async with client_for(runtime) as client:
        yield Sent(runtime, sink, client, campaign_id)


def subscriber(rt: Runtime, address: str, campaign_list: int | None = None) -> tuple[int, int]:
    """(subscriber id, list id) of the address on the first list it is on."""
    stmt = select(Subscriber.id, Subscriber.list_id).where(Subscriber.email == address)
    if campaign_list is not None:
        stmt = stmt.where(Subscriber.list_id == campaign_list)
    with rt.db.engine.connect() as conn:
        row = conn.execute(stmt.order_by(Subscriber.id)).first()
    assert row is not None, address
    return int(row[0]), int(row[1])


def token_for(rt: Runtime, address: str, key: bytes | None = None) -> str:
    sub, lst = subscriber(rt, address)
    return make_unsubscribe_token(sub, lst, key or rt.box.derive(UNSUBSCRIBE_PURPOSE))


def url_path_in_message(sink: SmtpSink, recipient: str) -> str:
    """The path of the https URL in ``List-Unsubscribe`` of the message sent to ``recipient``."""
    [received] = [m for m in sink.handler.messages if m.recipients == [recipient]]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    assert url is not None, message["List-Unsubscribe"]
    text = message.get_body(("plain",))
    assert text is not None and url.group(1) in text.get_content()  # {{ unsubscribe_url }}
    return "/" + url.group(1).split("/", 3)[3]


def status_of(rt: Runtime, address: str) -> list[str]:
    with rt.db.engine.connect() as conn:
        return list(
            conn.execute(select(Subscriber.status).where(Subscriber.email == address)).scalars()
        )


def suppressions(rt: Runtime) -> list[tuple[str, str | None, str]]:
    with rt.db.engine.connect() as conn:
        rows = conn.execute(select(Suppression.email, Suppression.kind, Suppression.reason))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_a_mailbox_providers_one_click_post_unsubscribes_at_once(sent: Sent) -> None:
    rt, client = sent.rt, sent.client
    path = url_path_in_message(sent.sink, JANE)
    assert path.startswith("/u/") and JANE.lower() not in path.lower()  # names nobody in clear

    answer = await client.post(path, data=ONE_CLICK)
    assert answer.status_code == 200, answer.text
    assert "location" not in answer.headers and not client.cookies
    assert answer.headers["content-type"].startswith("text/plain")
    assert "Unsubscribed" in answer.text
    assert status_of(rt, JANE) == ["unsubscribed"] and status_of(rt, BOB) == ["subscribed"]
    assert suppressions(rt) == [(JANE, "unsubscribe", "unsubscribed via one-click")]

    # The per-message log shows it against the message the link came in.
    with rt.db.engine.connect() as conn:
        [row] = message_log(conn, campaign_id=sent.campaign_id, recipient="jane.doe")
    assert row.event is not None and row.event.startswith("unsubscribed via one-click at ")

    # A provider may send it again: the same answer, and nothing changes.
    before = db_snapshot(rt)
    again = await client.post(path, data=ONE_CLICK)
    assert again.status_code == 200 and "location" not in again.headers
    assert db_snapshot(rt) == before

    # The next campaign to the same people skips the unsubscribed address.
    sent.sink.handler.messages.clear()
    _, uid = make_campaign(rt, 2, csv=PEOPLE)
    await send_until_settled(rt, uid)
    assert [m.recipients for m in sent.sink.handler.messages] == [[BOB]]


async def test_a_multipart_one_click_post_is_read_too(sent: Sent) -> None:
    """RFC 8058 §8.1's own example posts multipart/form-data."""
    boundary = "---FormBoundaryjWmhtjORrn"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"One-Click\r\n--{boundary}--\r\n"
    )
    answer = await sent.client.post(
        f"/u/{token_for(sent.rt, BOB)}",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 200, answer.text
    assert status_of(sent.rt, BOB) == ["unsubscribed"]


async def test_a_get_alone_never_unsubscribes(sent: Sent) -> None:
    before = db_snapshot(sent.rt)
    path = url_path_in_message(sent.sink, JANE)
    for url in (path, path.upper().replace("/U/", "/u/")):  # MTAs and people fold case
        page = await sent.client.get(url)
        assert page.status_code == 200
        assert "J***@example.com" in page.text and JANE not in page.text
        assert 'name="confirm" value="yes"' in page.text and '<form method="post"' in page.text
        assert page.headers["x-robots-tag"] == "noindex"
    assert db_snapshot(sent.rt) == before
    assert status_of(sent.rt, JANE) == ["subscribed"]


async def test_the_pages_button_unsubscribes_and_says_so(sent: Sent) -> None:
    path = url_path_in_message(sent.sink, JANE)
    done = await sent.client.post(path, data={"confirm": "yes"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text and "J***@example.com" in done.text
    assert suppressions(sent.rt) == [(JANE, "unsubscribe", "unsubscribed via page")]
    again = await sent.client.get(path)
    assert "already unsubscribed" in again.text


def _flip(token: str, at: int) -> str:
    return token[:at] + ("a" if token[at] != "a" else "b") + token[at + 1 :]


def _refused_tokens(rt: Runtime) -> dict[str, str]:
    key = rt.box.derive(UNSUBSCRIBE_PURPOSE)
    good = token_for(rt, JANE)
    sub, lst = subscriber(rt, JANE)
    make_campaign(rt, 1, launched=False)  # a second list of the same customer
    with rt.db.engine.connect() as conn:
        lists = sorted({int(r) for r in conn.execute(select(Subscriber.list_id)).scalars()})
    return {
        "forged-mac": _flip(good, len(good) - 2),
        "forged-id": _flip(good, 1),
        "truncated": good[:-4],
        "extended": good + "aa",
        "other-key": make_unsubscribe_token(sub, lst, Fernet.generate_key()[:32]),
        "unknown-subscriber": make_unsubscribe_token(10**9, lst, key),
        "subscriber-on-another-list": make_unsubscribe_token(sub, lists[-1], key),
        "too-long": "a" * 200,
        "not-base32": "jane.doe@example.com",
        "escaped": "%2e%2e%20" + good,
    }


@pytest.mark.parametrize(
    "case",
    ["forged-mac", "forged-id", "truncated", "extended", "other-key", "unknown-subscriber",
     "subscriber-on-another-list", "too-long", "not-base32", "escaped"],
)  # fmt: skip
async def test_a_bad_token_is_a_404_that_changes_nothing(sent: Sent, case: str) -> None:
    token = _refused_tokens(sent.rt)[case]
    before = db_snapshot(sent.rt)
    for answer in (
        await sent.client.get(f"/u/{token}"),
        await sent.client.post(f"/u/{token}", data=ONE_CLICK),
        await sent.client.post(f"/u/{token}", data={"confirm": "yes"}),
    ):
        assert answer.status_code == 404, (case, answer.text)
        assert "not valid" in answer.text and "J***" not in answer.text
    assert db_snapshot(sent.rt) == before


async def test_an_oversized_or_empty_post_is_refused_and_changes_nothing(sent: Sent) -> None:
    path = f"/u/{token_for(sent.rt, JANE)}"
    before = db_snapshot(sent.rt)
    big = {"List-Unsubscribe": "One-Click", "pad": "x" * MAX_BODY}
    assert (await sent.client.post(path, data=big)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"List-Unsubscribe=One-Click&pad="
        for _ in range(10):
            yield b"x" * 1024

    streamed = await sent.client.post(
        path, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413
    for data in ({}, {"List-Unsubscribe": "Two-Clicks"}, {"confirm": "no"}):
        answer = await sent.client.post(path, data=data)
        assert answer.status_code == 400 and "Nothing was changed" in answer.text
    assert db_snapshot(sent.rt) == before


def test_the_masked_address_shows_a_letter_and_the_domain() -> None:
    assert mask("jane@example.com") == "j***@example.com"
    assert mask("@example.com") == "***"
    assert mask("x") == "***"


# In a real browser, against a live ``sendpool serve``, at a phone's width.


def _prepare(settings: Settings) -> dict[str, str]:
    """A customer with a list of three people; the URL each would find in a message."""
    now = datetime.now(UTC)
    with Runtime.open(settings) as rt:
        rt.db.transaction(customers.create_customer, fields={"name": "acme"}, actor="t", now=now)
        with rt.db.engine.connect() as conn:
            cid = conn.execute(select(Customer.id).where(Customer.name == "acme")).scalar_one()
        listed = rt.db.transaction(create_list, cid, name="Acme news", now=now)
        people: list[tuple[str, dict[str, FieldValue]]] = [
            (JANE, {}), (BOB, {}), ("carol@example.net", {})
        ]  # fmt: skip
        rt.db.transaction(add_subscribers, cid, listed.uid, subscribers=people, now=now)
        return {address: f"/u/{token_for(rt, address)}" for address, _ in people}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Settings]]:
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/u.db", secret_key=key)
    paths = _prepare(settings)
    env = {
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": key,
        "SENDPOOL_REBALANCE_ENABLED": "false",
    }
    with serving(env, tmp_path) as base:
        yield base, paths, settings


def _state(settings: Settings) -> tuple[dict[str, str], list[tuple[str, str | None, str]], int]:
    with Runtime.open(settings, migrate=False) as rt, rt.db.engine.connect() as conn:
        status = {r[0]: r[1] for r in conn.execute(select(Subscriber.email, Subscriber.status))}
        rows = conn.execute(select(Suppression.email, Suppression.kind, Suppression.reason))
        suppressed = [(r[0], r[1], r[2]) for r in rows]
        events = conn.execute(select(DeliveryEvent.id).where(DeliveryEvent.kind == "unsubscribe"))
        return status, suppressed, len(events.all())


@pytest.mark.slow
def test_a_person_unsubscribes_in_the_browser_and_a_provider_by_post(
    live: tuple[str, dict[str, str], Settings], tmp_path: Path
) -> None:
    chromium = ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    base, paths, settings = live
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(HANG_GUARD_MS)
        try:
            page.goto(base + paths[JANE])
            expect(page.locator("[data-test=list-name]")).to_have_text("Acme news")
            expect(page.locator("[data-test=masked-email]")).to_have_text("J***@example.com")
            # It fits the phone: nothing wider than the screen, the button in full view.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            box = page.locator("[data-test=unsubscribe-button]").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            page.screenshot(path=str(shots / "unsubscribe-1-confirm.png"), full_page=True)
            assert _state(settings)[0][JANE] == "subscribed"  # the GET changed nothing

            page.click("[data-test=unsubscribe-button]")
            expect(page.locator("[data-test=done]")).to_have_text("You are unsubscribed")
            assert page.url == base + paths[JANE]  # answered in place, no redirect
            page.screenshot(path=str(shots / "unsubscribe-2-done.png"), full_page=True)
        finally:
            browser.close()
    save_screenshots(shots, SHOTS)
    status, suppressed, events = _state(settings)
    assert status[JANE] == "unsubscribed" and suppressed == [
        (JANE, "unsubscribe", "unsubscribed via page")
    ]

    # A mailbox provider: a plain POST over real HTTP, no cookies, no redirects followed.
    with httpx.Client(base_url=base, follow_redirects=False) as provider:
        assert provider.get(paths["carol@example.net"]).status_code == 200
        answer = provider.post(paths[BOB], data=ONE_CLICK)
        assert answer.status_code == 200 and "location" not in answer.headers
        assert provider.post(paths[BOB], data=ONE_CLICK).status_code == 200
        assert not provider.cookies
    status, suppressed, after = _state(settings)
    assert status == {JANE: "unsubscribed", BOB: "unsubscribed", "carol@example.net": "subscribed"}
    assert sorted(suppressed) == [
        (JANE, "unsubscribe", "unsubscribed via page"),
        (BOB, "unsubscribe", "unsubscribed via one-click"),
    ]
    assert after == events + 1  # the second POST recorded nothing more
