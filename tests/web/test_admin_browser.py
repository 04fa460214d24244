"""The admin pages in Chromium, one test per flow, against one live ``sendpool serve``.

An operator routes a customer by a region rule, issues and revokes a token,
pauses and resumes a campaign while it goes out through a rate-limited relay,
finds an audit entry for each change, and finds the addresses suppressed by an
unsubscribe and by a real 550 from the relay. Every page is photographed at
1366 px and 390 px, and none is wider than a 390 px phone.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, func, select

from sendpool.config import Settings
from sendpool.core.states import HoldReason
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.access import admins
from sendpool.services.campaigns import lifecycle
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.lists.unsubscribe import unsubscribe
from sendpool.services.servers import commands as server_commands
from sendpool.services.tenancy import customers, plans, sending_domains
from sendpool.store.tables import Campaign, MailingList, Message, Subscriber
from tests.support.faulty_smtp import Fault, FaultyServer
from tests.support.live_serve import CHROMIUM_ARGS, ensure_chromium, save_screenshots, serving

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "ops@example.com", "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "admin"
HANG_GUARD_MS = 120_000  # Playwright waits: a guard against hangs, never a speed check
HANG_GUARD_S = 180.0
SLOW_RECIPIENTS = 150
GONE = "gone@example.org"
WIDTHS = (1366, 1024, 390)  # desk, small laptop, phone


@dataclass
class Live:
    base: str
    settings: Settings
    shots: Path
    browser: Any
    ids: dict[str, str]


def _server(conn: Connection, rt: Runtime, name: str, port: int, **extra: Any) -> str:
    fields = {"name": name, "type": "smtp", "host": "127.0.0.1", "port": port,
              "encryption": "none", "sending_limit": 100_000,
              "default_from_email": "pool@example.com", **extra}  # fmt: skip
    return server_commands.create_server(
        conn, rt.box, fields=fields, actor="t", now=datetime.now(UTC)
    ).uid


def _list(conn: Connection, customer: str, name: str, emails: list[str]) -> tuple[int, str]:
    now = datetime.now(UTC)
    cid = refs.customer_id(conn, customer)
    list_id = get_or_create_list(conn, cid, name, now)
    import_csv(conn, list_id, io.StringIO("email\n" + "\n".join(emails) + "\n"), now)
    uid = conn.execute(select(MailingList.uid).where(MailingList.id == list_id)).scalar_one()
    return list_id, uid


def prepare(rt: Runtime, port: int) -> dict[str, str]:
    """Two plans over relays on the scripted SMTP server; acme sends slowly, bouncer not."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}

    def build(conn: Connection) -> None:
        admins.create_admin(
            conn, email=EMAIL, password_hash=admins.hash_password(PASSWORD), actor="t", now=now
        )
        slow = _server(conn, rt, "relay-slow", port, rate_per_second=5)
        fast = _server(conn, rt, "relay-fast", port)
        plans.create_plan(conn, name="Slow plan", servers=[slow], actor="t", now=now)
        plans.create_plan(conn, name="Bounce plan", servers=[fast], actor="t", now=now)
        plans.create_plan(conn, name="EU plan", actor="t", now=now)
        for name, plan in (("acme", "Slow plan"), ("bouncer", "Bounce plan")):
            customers.create_customer(conn, fields={"name": name, "plan": plan}, actor="t", now=now)
            sending_domains.add_domain(conn, name, f"{name}.example", actor="t", now=now)
        people = [f"person-{i:03d}@example.net" for i in range(SLOW_RECIPIENTS)]
        ids["slow_list"] = _list(conn, "acme", "news", people)[1]
        list_id, ids["bounce_list"] = _list(
            conn, "bouncer", "alerts", [GONE, "fine@example.org", "jane@example.org"]
        )
        jane = conn.execute(
            select(Subscriber.id).where(
                Subscriber.list_id == list_id, Subscriber.email == "jane@example.org"
            )
        ).scalar_one()
        unsubscribe(conn, subscriber_id=jane, list_id=list_id, source="mailto", now=now)

    rt.db.transaction(build)
    return ids


def launch(settings: Settings, customer: str, list_uid: str, name: str) -> str:
    """A campaign created and launched as the API would, from this process."""
    rt = Runtime.open(settings)
    try:
        now = datetime.now(UTC)
        cid = rt.db.transaction(refs.customer_id, customer)
        draft = CampaignDraft(name, "News", f"news@{customer}.example", text_body="Hello")
        info = rt.db.transaction(
            lifecycle.new_campaign,
            cid,
            list_uid=list_uid,
            draft=draft,
            public_url=rt.settings.public_url,
            now=now,
        )
        lifecycle.launch_campaign(rt.db.engine, cid, info.uid, now)
        return info.uid
    finally:
        rt.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    chromium = ensure_chromium()
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("admin-browser")
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{folder}/web.db", secret_key=key)
    refuse = {GONE: "550 5.1.1 <gone@example.org>: no such user"}
    with FaultyServer(default=Fault(refuse=refuse)) as relay:
        rt = Runtime.open(settings)
        try:
            ids = prepare(rt, relay.port)
        finally:
            rt.close()
        ids["bounce_campaign"] = launch(settings, "bouncer", ids["bounce_list"], "Alerts")
        env = {
            "SENDPOOL_DATABASE_URL": settings.database_url,
            "SENDPOOL_SECRET_KEY": key,
            "SENDPOOL_REBALANCE_ENABLED": "false",
            "SENDPOOL_POLL_INTERVAL": "0.05",
        }
        shots = folder / "screenshots"
        shots.mkdir()
        with serving(env, folder) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                yield Live(base, settings, shots, browser, ids)
            finally:
                browser.close()
                save_screenshots(shots, SHOTS)


@pytest.fixture
def signed_in(live: Live) -> Iterator[Callable[[int], Any]]:
    """A signed-in page at a viewport width; closed after the test."""
    opened: list[Any] = []

    def open_page(width: int = 1366) -> Any:
        context = live.browser.new_context(viewport={"width": width, "height": 900})
        opened.append(context)
        page = context.new_page()
        page.set_default_timeout(HANG_GUARD_MS)
        page.goto(live.base + "/admin/login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live.base + "/admin/pool")
        return page

    yield open_page
    for context in opened:
        context.close()


def shot(live: Live, page: Any, name: str) -> None:
    page.screenshot(path=str(live.shots / f"{name}.png"), full_page=True)


def reload_until(page: Any, done: Callable[[], bool], what: str) -> None:
    """Reload until ``done()``: the campaign page shows numbers as of its rendering."""
    deadline = time.monotonic() + HANG_GUARD_S  # a guard against hangs, not a speed check
    while not done():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.3)
        page.reload()


def test_a_customer_with_a_region_rule_shows_its_effective_plan(
    live: Live, signed_in: Callable[[int], Any]
) -> None:
    from playwright.sync_api import expect

    page = signed_in(1366)
    page.goto(live.base + "/admin/region-rules")
    page.click("text=Save rule")
    expect(page.locator("[data-error-for=region]")).to_have_text("required")
    page.fill("#f-rule-region", "eu")
    page.select_option("#f-rule-plan", label="EU plan")
    page.click("text=Save rule")
    expect(page.locator("[data-test=flash]")).to_contain_text("Region eu → EU plan")
    shot(live, page, "region-rules")

    page.goto(live.base + "/admin/customers")
    page.fill("#f-customer-region", "eu")
    page.click("text=Create customer")
    expect(page.locator("[data-error-for=name]")).to_have_text("required")
    expect(page.locator("#f-customer-region")).to_have_value("eu")
    page.fill("#f-customer-name", "globex")
    page.click("text=Create customer")
    expect(page.locator("[data-test=flash]")).to_contain_text("Customer globex created")
    expect(page.locator("[data-test=flash]")).to_contain_text("Effective plan: EU plan")
    expect(page.locator("[data-test=effective-plan]")).to_contain_text("EU plan")
    shot(live, page, "customer")
    page.goto(live.base + "/admin/customers")
    row = page.locator("tr[data-customer=globex]")
    expect(row.locator("[data-test=effective-plan]")).to_contain_text("EU plan")
    expect(row.locator("[data-test=effective-plan]")).to_contain_text("by region rule")
    row.locator("[data-test=effective-plan] a").click()
    expect(page.locator("[data-test=plan-customers]")).to_contain_text("globex")
    expect(page.locator("[data-test=plan-rules]")).to_contain_text("eu")


def test_a_token_is_created_shown_once_and_revoked(
    live: Live, signed_in: Callable[[int], Any]
) -> None:
    from playwright.sync_api import expect

    page = signed_in(1366)
    page.goto(live.base + "/admin/tokens")
    page.fill("#f-token-name", "crm")
    page.select_option("#f-token-customer", label="customer acme")
    page.click("text=Create token")
    token = page.locator("[data-test=token-value]").inner_text().strip()
    assert token.startswith("sp_")
    shot(live, page, "token-created")
    auth = {"Authorization": f"Bearer {token}"}
    me = httpx.get(live.base + "/api/v1/me", headers=auth)
    assert me.status_code == 200 and "acme" in me.text

    page.goto(live.base + "/admin/tokens")
    assert token not in page.content()  # shown once: never again
    page.click("[data-test=revoke-crm] summary")
    page.click("[data-test=revoke-crm] button")
    expect(page.locator("[data-test=flash]")).to_contain_text("Token crm revoked")
    expect(page.locator("tr[data-token=crm] [data-test=state]")).to_contain_text("revoked")
    assert httpx.get(live.base + "/api/v1/me", headers=auth).status_code == 401


def held(settings: Settings, uid: str) -> int:
    """Messages of the campaign the workers held back because it is paused."""
    rt = Runtime.open(settings)
    try:

        def count(conn: Connection) -> int:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(Message)
                    .join(Campaign, Campaign.id == Message.campaign_id)
                    .where(Campaign.uid == uid, Message.hold == HoldReason.CAMPAIGN_PAUSED)
                ).scalar_one()
            )

        return rt.db.transaction(count)
    finally:
        rt.close()


def _done(page: Any) -> int:
    return int(page.locator("[data-test=done-count]").inner_text().replace(",", ""))


def test_pausing_a_campaign_stops_its_counters_and_resuming_goes_on(
    live: Live, signed_in: Callable[[int], Any]
) -> None:
    from playwright.sync_api import expect

    uid = launch(live.settings, "acme", live.ids["slow_list"], "Slow news")
    page = signed_in(1366)
    page.goto(f"{live.base}/admin/campaigns/{uid}")
    reload_until(page, lambda: _done(page) > 0, "the first messages sent")
    page.click("[data-test=pause] button")
    expect(page.locator("[data-test=flash]")).to_contain_text("Slow news paused")
    # The workers read a campaign's status every few seconds: once they hold its messages
    # back, and nothing is in flight any more, nothing more may go out.
    reload_until(page, lambda: held(live.settings, uid) > 0, "the workers holding it back")
    status = page.locator("[data-test=by-status]")
    reload_until(page, lambda: "sending" not in status.inner_text(), "nothing in flight")
    stopped = _done(page)
    assert stopped < SLOW_RECIPIENTS
    for _ in range(3):  # the workers poll every 0.05 s: many chances to send, none taken
        time.sleep(1.0)
        page.reload()
        assert _done(page) == stopped
    expect(page.locator("[data-test=waits]")).to_contain_text("Held: the campaign is paused")
    shot(live, page, "campaign-paused")

    page.click("[data-test=resume] button")
    expect(page.locator("[data-test=flash]")).to_contain_text("Slow news resumed")
    reload_until(page, lambda: _done(page) > stopped, "sending go on")
    shot(live, page, "campaign-resumed")
    page.click("[data-test=pause] button")  # leave the relay to the other tests
    expect(page.locator("[data-test=flash]")).to_contain_text("paused")


def test_each_change_made_on_the_pages_has_its_audit_entry(
    live: Live, signed_in: Callable[[int], Any]
) -> None:
    from playwright.sync_api import expect

    page = signed_in(1366)
    page.goto(live.base + "/admin/customers")
    page.fill("#f-customer-name", "audited-co")
    page.click("text=Create customer")
    expect(page.locator("[data-test=flash]")).to_contain_text("Customer audited-co created")
    page.fill("#f-customer-region", "us")
    page.click("[data-test=customer-form] button[type=submit]")
    expect(page.locator("[data-test=flash]")).to_contain_text("Saved")
    page.goto(live.base + "/admin/region-rules")
    page.fill("#f-rule-region", "us")
    page.select_option("#f-rule-plan", label="Slow plan")
    page.click("text=Save rule")
    page.goto(live.base + "/admin/tokens")
    page.fill("#f-token-name", "audit-token")
    page.select_option("#f-token-customer", value="admin")
    page.click("text=Create token")
    expect(page.locator("[data-test=issued-token]")).to_be_visible()

    for subject, action in (
        ("audited-co", "customer.create"),
        ("audited-co", "customer.update"),
        ("us", "region_rule.put"),
        ("token", "token.create"),
    ):
        page.goto(live.base + "/admin/audit")
        page.fill("#f-actor", "ops@")
        page.fill("#f-subject", subject)
        page.fill("#f-since", "1h")
        page.click("[data-test=audit-filters] button")
        expect(page.locator(f"tr[data-action='{action}']").first).to_be_visible()
    shot(live, page, "audit-filtered")
    page.fill("#f-since", "soon")
    page.click("[data-test=audit-filters] button")
    expect(page.locator("[data-error-for=since]")).to_contain_text("neither a span")


def test_unsubscribed_and_bounced_addresses_are_listed(
    live: Live, signed_in: Callable[[int], Any]
) -> None:
    from playwright.sync_api import expect

    page = signed_in(1366)
    page.goto(live.base + "/admin/suppressions?customer=bouncer")
    rows = page.locator("table[data-test=suppressions] tbody tr")
    reload_until(page, lambda: rows.filter(has_text=GONE).count() == 1, "the bounce suppressed")
    expect(rows.filter(has_text=GONE)).to_contain_text("550 5.1.1")
    expect(rows.filter(has_text="jane@example.org")).to_contain_text("unsubscribed")
    page.fill("#f-add-email", "asked@example.org")
    page.fill("#f-add-reason", "asked by phone")
    page.click("[data-test=add-suppression] button")
    expect(page.locator("[data-test=flash]")).to_contain_text("asked@example.org suppressed")
    expect(rows.filter(has_text="asked@example.org")).to_contain_text("asked by phone")
    shot(live, page, "suppressions-bouncer")
    page.goto(live.base + "/admin/events?kind=hard_bounce")
    expect(page.locator("table[data-test=events]")).to_contain_text(GONE)
    expect(page.locator("[data-test=by-server] tr[data-server=relay-fast]")).to_be_visible()


PAGES = [
    ("pool", "/admin/pool"),
    ("servers", "/admin/servers"),
    ("server-new", "/admin/servers/new"),
    ("plans", "/admin/plans"),
    ("customers", "/admin/customers"),
    ("region-rules", "/admin/region-rules"),
    ("tokens", "/admin/tokens"),
    ("campaigns", "/admin/campaigns"),
    ("distribution", "/admin/distribution"),
    ("events", "/admin/events"),
    ("suppressions", "/admin/suppressions?customer=bouncer"),
    ("audit", "/admin/audit"),
    ("not-found", "/admin/no-such-page"),
]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_viewport(
    live: Live, signed_in: Callable[[int], Any], width: int
) -> None:
    from playwright.sync_api import expect

    page = signed_in(width)
    pages = list(PAGES)
    for link, name in (
        ("[data-test=servers] tbody a", "server"),
        ("[data-test=plans] tbody a", "plan"),
        ("[data-test=customers] tbody a", "customer-detail"),
        ("[data-test=campaigns] tbody a", "campaign"),
    ):
        page.goto(live.base + "/admin/" + name.split("-")[0] + "s")
        pages.append((name, page.locator(link).first.get_attribute("href")))
    for name, path in pages:
        page.goto(live.base + path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(live.shots / f"{name}-{width}.png"), full_page=True)
        assert wide <= width, f"{path} is {wide} px wide at {width} px"
    nav = page.locator("header.top nav")
    if width < 1100:
        expect(nav).to_be_hidden()  # the header collapses behind its menu button
        page.click("header.top .nav-toggle-label")
        expect(nav).to_be_visible()
        page.screenshot(path=str(live.shots / f"menu-open-{width}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    else:
        expect(nav).to_be_visible()
