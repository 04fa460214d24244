"""The admin pages in Debian's chromium, driven by Playwright, against a live ``sendpool serve``.

An operator signs in, adds two SMTP relays (aiosmtpd sinks on loopback) and a
plan through the pages, a 500-message campaign goes out under that plan, the
pool page's counters rise by themselves, and the campaign log names the server
each message went through: the same server whose sink holds the message.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services.access import admins
from sendpool.services.tenancy import customers, sending_domains
from tests.support.live_process import SENDPOOL
from tests.support.live_serve import CHROMIUM_ARGS, ensure_chromium, save_screenshots, serving
from tests.support.threaded_sink import threaded_sinks

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "ops@example.com", "correct horse battery staple"
RECIPIENTS = 500
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
HANG_GUARD_MS = 120_000  # Playwright waits: a guard against hangs, never a speed check


def prepare(settings: Settings) -> None:
    """An admin user and a customer with no plan yet; everything else is made on the pages."""
    rt = Runtime.open(settings)
    now = datetime.now(UTC)
    try:
        password_hash = admins.hash_password(PASSWORD)
        rt.db.transaction(
            admins.create_admin, email=EMAIL, password_hash=password_hash, actor="t", now=now
        )
        rt.db.transaction(customers.create_customer, fields={"name": "acme"}, actor="t", now=now)
        rt.db.transaction(sending_domains.add_domain, "acme", "example.com", actor="t", now=now)
    finally:
        rt.close()


def launch_campaign(folder: Path, env: dict[str, str]) -> None:
    people = folder / "people.csv"
    rows = [f"person-{i:04d}@example.org,Person {i}" for i in range(RECIPIENTS)]
    people.write_text("email,first_name\n" + "\n".join(rows) + "\n")
    body = folder / "body.txt"
    body.write_text("Hello {{ first_name }},\n\nthe pool at work.\n")
    run = subprocess.run(
        [SENDPOOL, "campaign", "run", "--customer", "acme", "--csv", str(people),
         "--subject", "Pool news", "--from", "news@example.com", "--text", str(body),
         "--plan", "Browser plan", "--name", "November news", "--no-wait", "--json"],
        env=env, cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_operator_runs_the_pool_from_the_browser(tmp_path: Path) -> None:
    chromium = ensure_chromium()
    from playwright.sync_api import Page, expect, sync_playwright

    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/web.db", secret_key=key)
    prepare(settings)
    env = {
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": key,
        "SENDPOOL_REBALANCE_ENABLED": "false",
        "SENDPOOL_POLL_INTERVAL": "0.05",
    }
    env_all = {**os.environ, **env}
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    with threaded_sinks(2) as sinks, serving(env, tmp_path) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(HANG_GUARD_MS)
        try:
            # 1. Sign in: / leads to the sign-in page and, once signed in, to the pool.
            page.goto(base + "/")
            expect(page).to_have_url(base + "/admin/login")
            page.fill("#email", EMAIL)
            page.fill("#password", "not the password")
            page.click("button[type=submit]")
            expect(page.locator("[data-test=login-error]")).to_contain_text("Wrong email")
            page.fill("#password", PASSWORD)
            shot(page, "01-login")
            page.click("button[type=submit]")
            expect(page).to_have_url(base + "/admin/pool")

            # 2. Two SMTP relays, each pointing at its sink; both in one plan.
            uids = {}
            for name, sink in (("relay-a", sinks[0]), ("relay-b", sinks[1])):
                page.goto(base + "/admin/servers/new?type=smtp")
                page.fill("#f-host", "127.0.0.1")
                page.fill("#f-port", str(sink.port))
                page.select_option("#f-encryption", "none")
                page.fill("#f-name", name)
                page.fill("#f-default-from-email", "pool@example.com")
                page.fill("#f-sending-limit", "")  # left blank: refused next to the field
                page.click("text=Create server")
                expect(page.locator("[data-error-for=sending_limit]")).to_have_text("required")
                if name == "relay-a":
                    shot(page, "02-new-server-with-error")
                page.fill("#f-sending-limit", "5000")
                page.fill("#f-hourly-limit", "1000")
                page.fill("#f-rate-per-second", "25")
                page.click("text=Create server")
                expect(page.locator("[data-test=flash]")).to_contain_text(f"Server {name} created")
                uids[name] = page.url.rsplit("/", 1)[1]
                page.click("text=Test connection")
                expect(page.locator("[data-test=flash]")).to_contain_text("Connection OK")
            page.fill("#f-test-to", "postmaster@example.net")
            page.click("text=Send test email")
            expect(page.locator("[data-test=flash]")).to_contain_text("Test email accepted")
            assert sinks[1].messages[-1].recipients == ["postmaster@example.net"]
            shot(page, "03-server-detail")

            page.goto(base + "/admin/plans")
            page.fill("#f-plan-name", "Browser plan")
            page.click("text=Create plan")
            expect(page.locator("[data-test=flash]")).to_contain_text("Plan Browser plan created")
            for name in uids:
                page.select_option("#f-attach", uids[name])
                page.click("[data-test=attach] button")
                expect(page.locator("[data-test=flash]")).to_contain_text(f"{name} attached")
            expect(page.locator("[data-test=plan-servers] tbody tr")).to_have_count(2)
            shot(page, "04-plan")
            page.goto(f"{base}/admin/servers/{uids['relay-a']}")
            expect(page.locator("[data-test=plans]")).to_contain_text("Browser plan")
            shot(page, "04b-server-in-plan")
            page.goto(base + "/admin/servers")
            expect(page.locator("[data-test=servers] .chip-healthy")).to_have_count(2)
            shot(page, "05-servers")

            # 3 and 4. The campaign goes out while the pool page watches, without reloading.
            page.goto(base + "/admin/pool")
            counters = {
                n: page.locator(f'[data-live-text="{u}.day_used"]') for n, u in uids.items()
            }
            for counter in counters.values():
                expect(counter).to_have_text("0")
            page.evaluate(
                """() => {
                  window.seen = {};
                  window.notReloaded = true;
                  document.querySelectorAll('[data-live-text$=".day_used"]').forEach((el) => {
                    const key = el.getAttribute('data-live-text');
                    window.seen[key] = [el.textContent];
                    new MutationObserver(() => {
                      const list = window.seen[key];
                      if (list[list.length - 1] !== el.textContent) list.push(el.textContent);
                    }).observe(el, {childList: true, characterData: true, subtree: true});
                  });
                }"""
            )
            launch_campaign(tmp_path, env_all)
            page.wait_for_function(
                "() => Object.values(window.seen).every((v) => Number(v[v.length-1]) > 0)"
            )
            shot(page, "06-pool-while-sending")
            page.wait_for_function(
                """(total) => Object.values(window.seen)
                    .map((v) => Number(v[v.length - 1].replace(/,/g, '')))
                    .reduce((a, b) => a + b, 0) === total""",
                arg=RECIPIENTS,
            )
            seen = page.evaluate("window.seen")
            assert page.evaluate("window.notReloaded") is True
            for values in seen.values():
                numbers = [int(v.replace(",", "")) for v in values]
                assert numbers[0] == 0 and numbers[-1] > 0, numbers
                assert numbers == sorted(numbers), numbers  # usage only rises
            expect(page.locator("[data-test=server-types]")).to_contain_text("SMTP relay 2")
            shot(page, "07-pool-after-campaign")

            # 5. The campaign: progress, messages per server, and the per-message log.
            page.goto(base + "/admin/campaigns")
            page.click("text=November news")
            expect(page.locator("[data-test=by-server]")).to_contain_text("relay-a")
            expect(page.locator("[data-test=by-server]")).to_contain_text("relay-b")
            shot(page, "08-campaign")
            page.fill("#f-recipient", "person-0042@")
            page.click("text=Search")
            row = page.locator("[data-test=log] tbody tr")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("person-0042@example.org")
            used = row.locator("td.server b").inner_text()
            by_name = {"relay-a": sinks[0], "relay-b": sinks[1]}
            got = [r for m in by_name[used].messages for r in m.recipients]
            assert "person-0042@example.org" in got  # the log names the server that really sent it
            expect(row).to_contain_text(f"Used Server {used}")
            shot(page, "09-campaign-log-search")

            page.goto(base + "/admin/distribution")
            section = page.locator("[data-test='plan-Browser plan']")
            expect(section).to_contain_text(f"{RECIPIENTS} messages sent")
            expect(section.locator("table.shares tbody tr")).to_have_count(2)
            shot(page, "10-distribution")

            page.click("text=Sign out")
            expect(page).to_have_url(base + "/admin/login")
            page.goto(base + "/admin/pool")
            expect(page).to_have_url(base + "/admin/login?next=/admin/pool")
        finally:
            browser.close()
            save_screenshots(shots, SHOTS)
    assert sum(s.count for s in sinks) == RECIPIENTS + 1  # and the one test email
