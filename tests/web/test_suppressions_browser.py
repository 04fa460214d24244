"""The suppressions page in Chromium at desk and phone width, against a live ``sendpool serve``.

An operator picks a customer, finds an unsubscribed and a bounced address
among 150, and lifts one. At 390 px the page's own content stays inside the
viewport and the table scrolls inside its card.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, select

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.access import admins
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.lists.unsubscribe import unsubscribe
from sendpool.services.tenancy import customers
from sendpool.store.tables import Subscriber, Suppression, table
from tests.support.live_serve import CHROMIUM_ARGS, ensure_chromium, save_screenshots, serving

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "ops@example.com", "correct horse battery staple"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
HANG_GUARD_MS = 120_000  # Playwright waits: a guard against hangs, never a speed check
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def prepare(conn: Connection, now: datetime) -> None:
    """An admin; acme with 150 suppressions, one of them unsubscribed and one a hard bounce."""
    admins.create_admin(
        conn, email=EMAIL, password_hash=admins.hash_password(PASSWORD), actor="t", now=now
    )
    customers.create_customer(conn, fields={"name": "acme"}, actor="t", now=now)
    customers.create_customer(conn, fields={"name": "globex"}, actor="t", now=now)
    cid = refs.customer_id(conn, "acme")
    conn.execute(
        table(Suppression).insert(),
        [
            {"customer_id": cid, "email": f"person-{i:03d}@example.org", "reason": "imported",
             "kind": "manual", "created_at": T0 + timedelta(minutes=i)}
            for i in range(148)
        ] + [
            {"customer_id": cid, "email": "gone@example.org", "kind": "hard_bounce",
             "reason": "hard bounce 5.1.1 reported by mx.example.org",
             "created_at": now - timedelta(minutes=1)}
        ],
    )  # fmt: skip
    list_id = get_or_create_list(conn, cid, "news", now)
    import_csv(conn, list_id, io.StringIO("email\njane@example.org\n"), now)
    jane = conn.execute(select(Subscriber.id).where(Subscriber.list_id == list_id)).scalar_one()
    unsubscribe(conn, subscriber_id=jane, list_id=list_id, source="mailto", now=now)


@pytest.mark.parametrize("width", [1366, 390])
def test_operator_finds_and_lifts_a_suppression(tmp_path: Path, width: int) -> None:
    chromium = ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/web.db", secret_key=key)
    rt = Runtime.open(settings)
    try:
        rt.db.transaction(prepare, datetime.now(UTC))
    finally:
        rt.close()
    env = {
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": key,
        "SENDPOOL_REBALANCE_ENABLED": "false",
    }
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with serving(env, tmp_path) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_default_timeout(HANG_GUARD_MS)
        try:
            page.goto(base + "/admin/suppressions")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(base + "/admin/suppressions")
            page.select_option("#f-customer", "acme")
            page.click("form.filters button[type=submit]")
            rows = page.locator("table[data-test=suppressions] tbody tr")
            expect(rows).to_have_count(100)
            # Newest first: the unsubscribe and the bounce of today above the imported ones.
            expect(rows.nth(0)).to_contain_text("jane@example.org")
            expect(rows.nth(0)).to_contain_text("unsubscribed via mailto")
            expect(rows.nth(1)).to_contain_text("gone@example.org")
            expect(rows.nth(1)).to_contain_text("hard bounce")
            page.screenshot(path=str(shots / f"suppressions-{width}.png"), full_page=True)
            if width == 390:
                main = page.evaluate("document.querySelector('main').scrollWidth")
                card = page.evaluate(
                    "(() => { const c = document.querySelector('.table-card');"
                    " const r = c.getBoundingClientRect();"
                    " return [r.left, r.right, c.clientWidth, c.scrollWidth]; })()"
                )
                assert main <= width, main
                left, right, inside, scrolled = card
                assert 0 <= left and right <= width, card
                assert scrolled > inside, card  # the table scrolls inside its card
            page.click("a[rel=next]")
            expect(rows).to_have_count(50)
            page.fill("#f-q", "PERSON-14")
            page.click("form.filters button[type=submit]")
            expect(rows).to_have_count(8)  # person-140 .. person-147
            page.click("tr[data-email='person-142@example.org'] button")
            expect(page.locator("[data-test=flash]")).to_contain_text(
                "person-142@example.org removed"
            )
            expect(rows).to_have_count(7)
            expect(page.locator("#f-q")).to_have_value("PERSON-14")
            page.screenshot(path=str(shots / f"suppressions-removed-{width}.png"), full_page=True)
        finally:
            browser.close()
            save_screenshots(shots, SHOTS)
