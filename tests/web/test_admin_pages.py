"""The admin pages for customers, region rules, tokens, audit, events and campaign controls.

Plain HTTP: each form's errors beside the field they name, CSRF refusals,
and bad input changing nothing; the browser flows are in test_admin_browser.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from sendpool.services import refs
from sendpool.services.access.tokens import authenticate, list_tokens
from sendpool.services.campaigns import lifecycle
from sendpool.services.operations.audit import list_audit
from sendpool.services.operations.events import Thresholds
from sendpool.services.tenancy.customers import get_customer
from sendpool.store.tables import Campaign, DeliveryEvent, Message, Suppression, table
from sendpool.web.routes import pool as pool_routes
from sendpool.web.views import customers as customer_views
from sendpool.web.views import servers as server_views
from tests.support.admin_world import BOUNCE_SECRET, Web
from tests.support.snapshots import db_snapshot
from tests.support.world import ALL_SECRETS

_ERROR = re.compile(r'data-error-for="([^"]+)">([^<]*)<')
_FLASH = re.compile(r'data-test="flash">\s*<strong>([^<]*)</strong>')
_TOKEN = re.compile(r'data-test="token-value">(sp_[A-Za-z0-9_-]+)<')


def errors(response: httpx.Response) -> dict[str, str]:
    return dict(_ERROR.findall(response.text))


async def flash_after(web: Web, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    found = _FLASH.search((await web.client.get(response.headers["location"])).text)
    return found.group(1) if found else ""


def data(web: Web) -> dict[str, list[tuple[Any, ...]]]:
    """The database, but for the signed-in session's own rows (each request touches them)."""
    return {k: v for k, v in db_snapshot(web.rt).items() if not k.startswith("admin_session")}


def actions(web: Web, **filters: Any) -> list[str]:
    return [e.action for e in web.rt.db.transaction(list_audit, limit=500, **filters)]


NEW_PAGES = [
    ("/admin/customers", "tenant-a"),
    ("/admin/customers/{customer_a}", "Effective plan"),
    ("/admin/region-rules", "eu"),
    ("/admin/tokens", "a-key"),
    ("/admin/audit", "customer.create"),
    ("/admin/events", "By server, last 24 hours"),
    ("/admin/campaigns?status=sending", "a-launched"),
]


@pytest.mark.parametrize(("path", "shows"), NEW_PAGES)
async def test_new_pages_need_a_session_and_show_their_data(
    web: Web, path: str, shows: str
) -> None:
    url = path.format(**web.ids)
    signed_out = await web.client.get(url)
    assert signed_out.status_code == 303 and "/admin/login" in signed_out.headers["location"]
    assert shows not in signed_out.text
    await web.login()
    response = await web.client.get(url)
    assert response.status_code == 200, response.text
    assert shows in response.text
    for secret in [*ALL_SECRETS, BOUNCE_SECRET]:
        assert secret not in response.text  # no token's value or server secret is ever shown
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert " style=" not in response.text and "<style" not in response.text


async def test_unknown_admin_paths_get_a_page_not_json(web: Web) -> None:
    signed_out = await web.client.get("/admin/no-such-page")
    assert signed_out.status_code == 303  # nothing is said to strangers, not even "not found"
    await web.login()
    for path in ("/admin/no-such-page", "/admin/customers/nobody", "/admin/campaigns/nope"):
        response = await web.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Not Found" not in response.text and '{"detail"' not in response.text
        assert 'href="/admin/customers"' in response.text  # the header is there
    assert (await web.client.get("/admin/static/admin.css")).status_code == 200


async def test_add_server_form_starts_blank_where_the_type_has_no_default(admin: Web) -> None:
    for kind in ("smtp", "ses", "mailgun", "postmark", "sendgrid"):
        response = await admin.client.get(f"/admin/servers/new?type={kind}")
        assert response.status_code == 200
        assert "PydanticUndefined" not in response.text, kind


async def test_test_email_without_a_sender_says_so_beside_from(admin: Web) -> None:
    uid = admin.ids["server_idle"]  # a server with no default sender
    page = await admin.client.get(f"/admin/servers/{uid}")
    assert 'name="from_email"' in page.text
    response = await admin.post(f"/admin/servers/{uid}/test-email", {"to": "ops@example.com"})
    if "default_from_email" not in response.text:
        pytest.skip("the seeded idle server has a default sender")
    assert response.status_code == 422
    assert "test.from_email" in errors(response)
    assert "Not saved" not in response.text
    assert "Test email not sent" in response.text


async def test_a_customer_is_created_beside_its_errors_and_gets_a_region_plan(admin: Web) -> None:
    before = data(admin)
    blank = await admin.post("/admin/customers", {"name": " ", "region": "eu"})
    assert blank.status_code == 422 and errors(blank) == {"name": "required"}
    taken = await admin.post("/admin/customers", {"name": "TENANT-A"})
    assert taken.status_code == 422 and "already exists" in errors(taken)["name"]
    assert 'value="TENANT-A"' in taken.text
    bad_plan = await admin.post("/admin/customers", {"name": "new", "plan": "no-such-plan"})
    assert bad_plan.status_code == 422 and "unknown plan" in errors(bad_plan)["plan"]
    long_region = await admin.post("/admin/customers", {"name": "new", "region": "x" * 65})
    assert "region" in errors(long_region)
    assert data(admin) == before  # nothing of the refused forms was written

    made = await admin.post("/admin/customers", {"name": "acme-eu", "region": "eu"})
    assert await flash_after(admin, made) == "Customer acme-eu created"
    customer = admin.rt.db.transaction(get_customer, "acme-eu")
    assert customer.plan is None and customer.effective_plan is not None
    assert customer.effective_plan.name == "Shared"  # the eu rule routes it
    page = await admin.client.get(made.headers["location"])
    assert re.search(r'data-test="effective-plan">.*Shared', page.text)

    rule = await admin.post(
        "/admin/region-rules", {"region": "eu", "plan": admin.ids["plan_spare"]}
    )
    assert await flash_after(admin, rule) == "Region eu → Spare"
    effective = admin.rt.db.transaction(get_customer, "acme-eu").effective_plan
    assert effective is not None and effective.name == "Spare"
    saved = await admin.post(
        f"/admin/customers/{customer.uid}", {"name": "acme-eu", "plan": admin.ids["plan"]}
    )
    assert await flash_after(admin, saved) == "Saved"
    assert admin.rt.db.transaction(get_customer, "acme-eu").region is None
    assert {"customer.create", "region_rule.put", "customer.update"} <= set(actions(admin))


async def test_region_rules_refuse_blank_fields_and_delete_after_asking(admin: Web) -> None:
    before = data(admin)
    response = await admin.post("/admin/region-rules", {"region": "", "plan": ""})
    assert response.status_code == 422
    assert errors(response) == {"region": "required", "plan": "required"}
    response = await admin.post("/admin/region-rules", {"region": "us", "plan": "nope"})
    assert "unknown plan" in errors(response)["plan"] and 'value="us"' in response.text
    assert data(admin) == before
    page = await admin.client.get("/admin/region-rules")
    assert 'data-test="delete-eu"' in page.text and "<details" in page.text
    deleted = await admin.post("/admin/region-rules/eu/delete", {})
    assert await flash_after(admin, deleted) == "Region rule eu deleted"
    again = await admin.post("/admin/region-rules/eu/delete", {})
    assert await flash_after(admin, again) == "Not deleted"


async def test_a_token_is_shown_once_works_and_is_revoked(admin: Web) -> None:
    before = data(admin)
    response = await admin.post("/admin/tokens", {"name": "", "customer": "admin"})
    assert response.status_code == 422 and errors(response) == {"name": "required"}
    response = await admin.post("/admin/tokens", {"name": "ci", "customer": ""})
    assert "customer" in errors(response)
    response = await admin.post("/admin/tokens", {"name": "ci", "customer": "nobody"})
    assert "unknown customer" in errors(response)["customer"]
    assert data(admin) == before

    response = await admin.post(
        "/admin/tokens", {"name": "crm", "customer": admin.ids["customer_a"]}
    )
    assert response.status_code == 201
    found = _TOKEN.search(response.text)
    assert found is not None
    token = found.group(1)
    now = datetime.now(UTC)
    principal = admin.rt.db.transaction(authenticate, token, now)
    assert principal.customer_name == "tenant-a"
    listing = await admin.client.get("/admin/tokens")
    assert token not in listing.text and 'data-token="crm"' in listing.text
    assert "set-cookie" not in response.headers or token not in response.headers["set-cookie"]

    uid = next(t.uid for t in admin.rt.db.transaction(list_tokens) if t.name == "crm")
    revoked = await admin.post(f"/admin/tokens/{uid}/revoke", {})
    assert await flash_after(admin, revoked) == "Token crm revoked"
    with pytest.raises(Exception, match="revoked"):
        admin.rt.db.transaction(authenticate, token, now)
    assert {"token.create", "token.revoke"} <= set(actions(admin, subject="token"))


async def test_every_new_form_refuses_a_missing_csrf_token(admin: Web) -> None:
    posts = [
        ("/admin/customers", {"name": "sneaky"}),
        (f"/admin/customers/{admin.ids['customer_a']}", {"name": "renamed"}),
        ("/admin/region-rules", {"region": "us", "plan": "Shared"}),
        ("/admin/region-rules/eu/delete", {}),
        ("/admin/tokens", {"name": "sneaky", "customer": "admin"}),
        (f"/admin/tokens/{admin.ids['token_a']}/revoke", {}),
        (f"/admin/campaigns/{admin.ids['campaign_a']}/pause", {}),
        (f"/admin/campaigns/{admin.ids['campaign_a']}/resume", {}),
        (f"/admin/campaigns/{admin.ids['campaign_a']}/send-waiting", {}),
        ("/admin/suppressions/import", {"customer": "tenant-a"}),
        ("/admin/suppressions/add", {"customer": "tenant-a", "email": "x@example.com"}),
    ]
    before = data(admin)
    for url, form in posts:
        for token in (None, "forged"):
            sent = form if token is None else {**form, "csrf_token": token}
            response = await admin.client.post(url, data=sent)
            assert response.status_code == 403, url
            assert "Form refused" in response.text
    assert data(admin) == before


async def test_pause_and_resume_from_the_campaign_page(admin: Web) -> None:
    now = datetime.now(UTC)
    cid = admin.rt.db.transaction(refs.customer_id, "tenant-a")
    lifecycle.launch_campaign(admin.rt.db.engine, cid, admin.ids["draft_a"], now)
    url = f"/admin/campaigns/{admin.ids['draft_a']}"
    page = await admin.client.get(url)
    assert 'data-test="pause"' in page.text and 'data-test="resume"' not in page.text

    paused = await admin.post(url + "/pause", {})
    assert await flash_after(admin, paused) == "a-draft paused"
    page = await admin.client.get(url)
    assert 'data-test="resume"' in page.text and "Held: the campaign is paused" in page.text
    again = await admin.post(url + "/pause", {})  # twice is fine, and not audited twice
    assert await flash_after(admin, again) == "a-draft was already paused"

    resumed = await admin.post(url + "/resume", {})
    assert await flash_after(admin, resumed) == "a-draft resumed"
    status = admin.rt.db.transaction(
        lambda c: c.execute(
            select(Campaign.status).where(Campaign.uid == admin.ids["draft_a"])
        ).scalar_one()
    )
    assert status == "sending"
    done = await admin.post(f"/admin/campaigns/{admin.ids['campaign_a']}/resume", {})
    assert await flash_after(admin, done) == "Not resumed"
    assert actions(admin, subject="campaign") == ["campaign.resume", "campaign.pause"]


async def test_campaign_filters_and_their_errors(admin: Web) -> None:
    by_customer = await admin.client.get("/admin/campaigns?customer=tenant-b")
    assert 'data-campaign="b-launched"' in by_customer.text
    assert 'data-campaign="a-launched"' not in by_customer.text
    drafts = await admin.client.get("/admin/campaigns?status=draft")
    assert 'data-campaign="a-draft"' in drafts.text
    assert 'data-campaign="a-launched"' not in drafts.text
    bad = await admin.client.get("/admin/campaigns?status=lost&customer=nobody")
    assert bad.status_code == 422 and "status" in errors(bad)


async def test_audit_filters_by_actor_object_and_time(admin: Web) -> None:
    await admin.post("/admin/customers", {"name": "audited"})
    page = await admin.client.get("/admin/audit?actor=ops@&subject=customer")
    assert 'data-action="customer.create"' in page.text and "audited" in page.text
    none = await admin.client.get("/admin/audit?actor=nobody-at-all")
    assert 'data-action="' not in none.text and "No entry matches" in none.text
    future = await admin.client.get("/admin/audit?since=2999-01-01")
    assert 'data-action="' not in future.text
    bad = await admin.client.get("/admin/audit?since=yesterday&until=soon")
    assert bad.status_code == 422 and {"since"} <= set(errors(bad))
    order = await admin.client.get("/admin/audit?since=1h&until=2h")
    assert order.status_code == 422 and "until" in errors(order)


async def test_events_page_filters_and_refuses_unknown_filters(admin: Web) -> None:
    page = await admin.client.get("/admin/events?kind=complaint")
    assert page.status_code == 200
    assert all(k == "complaint" for k in re.findall(r'<tr data-kind="([^"]+)"', page.text))
    bad = await admin.client.get("/admin/events?server=nope&kind=weird")
    assert bad.status_code == 422 and "kind" in errors(bad)


async def test_suppressions_are_added_imported_and_exported(admin: Web) -> None:
    before = data(admin)
    refused = await admin.post(
        "/admin/suppressions/add", {"customer": "tenant-a", "email": "not an address"}
    )
    assert refused.status_code == 422 and "email" in errors(refused)
    assert 'value="not an address"' in refused.text
    empty = await admin.client.post(
        "/admin/suppressions/import",
        data={"csrf_token": await admin.csrf(), "customer": "tenant-a"},
        files={"file": ("s.csv", b"name\nnobody\n", "text/csv")},
    )
    assert empty.status_code == 422 and "file" in errors(empty)
    assert data(admin) == before

    added = await admin.post(
        "/admin/suppressions/add",
        {"customer": "tenant-a", "email": "Asked@Example.com", "reason": "asked by phone"},
    )
    assert await flash_after(admin, added) == "Asked@example.com suppressed"
    again = await admin.post(
        "/admin/suppressions/add", {"customer": "tenant-a", "email": "Asked@example.com"}
    )
    assert await flash_after(admin, again) == "Asked@example.com already suppressed"
    imported = await admin.client.post(
        "/admin/suppressions/import",
        data={"csrf_token": await admin.csrf(), "customer": "tenant-a"},
        files={"file": ("s.csv", b"email,reason\none@x.example,list\nbad\n", "text/csv")},
    )
    assert await flash_after(admin, imported) == "1 address(es) suppressed"
    export = await admin.client.get("/admin/suppressions/export.csv?customer=tenant-a")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "one@x.example,list" in export.text and "Asked@example.com" in export.text
    assert admin.ids["suppressed_a"] in export.text
    assert "b-tenant" not in export.text

    def emails(conn: Any) -> set[str]:
        cid = refs.customer_id(conn, "tenant-a")
        rows = conn.execute(select(Suppression.email).where(Suppression.customer_id == cid))
        return set(rows.scalars())

    assert {"Asked@example.com", "one@x.example"} <= admin.rt.db.transaction(emails)
    assert {"suppression.add", "suppression.import"} <= set(actions(admin, subject="suppression"))


async def test_send_waiting_now_makes_window_waits_due(admin: Web) -> None:
    now = datetime.now(UTC)
    cid = admin.rt.db.transaction(refs.customer_id, "tenant-a")
    lifecycle.launch_campaign(admin.rt.db.engine, cid, admin.ids["draft_a"], now)
    later = now + timedelta(hours=3)

    def wait_for_a_window(conn: Any) -> None:
        campaign = refs.campaign_id(conn, admin.ids["draft_a"], customer_id=cid)
        conn.execute(
            update(table(Message))
            .where(Message.campaign_id == campaign)
            .values(due_at=later, last_error="waiting: daily cap 1000/1000 used")
        )

    admin.rt.db.transaction(wait_for_a_window)
    url = f"/admin/campaigns/{admin.ids['draft_a']}"
    page = await admin.client.get(url)
    assert (
        "Waiting for a server&#39;s window" in page.text
        or "Waiting for a server's window" in page.text
    )
    assert "daily cap 1000/1000 used" in page.text and 'data-test="send-waiting"' in page.text
    woken = await admin.post(url + "/send-waiting", {})
    assert await flash_after(admin, woken) == "3 message(s) of a-draft due now"
    page = await admin.client.get(url)
    assert 'data-test="send-waiting"' not in page.text
    nothing = await admin.post(url + "/send-waiting", {})
    assert await flash_after(admin, nothing) == "Nothing was waiting"
    await admin.post(url + "/pause", {})
    paused = await admin.post(url + "/send-waiting", {})
    assert await flash_after(admin, paused) == "Not sent now"
    assert actions(admin, action="campaign.send_waiting") == ["campaign.send_waiting"]


async def test_server_list_shows_todays_warmup_cap_and_highlights_bounces(
    admin: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    uid = admin.ids["server_smtp"]
    warmup = {"start_daily": 150, "growth_percent": 50, "target_daily": 90_000,
              "started_on": now.date().isoformat()}  # fmt: skip

    def warm_and_bounce(conn: Any) -> None:
        server_views.save_server(
            conn, admin.rt.box, uid, changes={"warmup": warmup}, handlers={}, actor="t", now=now
        )
        conn.execute(
            table(DeliveryEvent)
            .insert()
            .values(server_id=refs.server_id(conn, uid), kind="hard_bounce",
                    sent_at=now - timedelta(hours=1), created_at=now, recipient="x@example.com")
        )  # fmt: skip

    admin.rt.db.transaction(warm_and_bounce)
    quiet = await admin.client.get("/admin/servers")
    row = re.search(r'<tr data-server="smtp-1">(.*?)</tr>', quiet.text, re.S)
    assert row is not None
    assert re.search(r'data-test="warmup-cap">warm-up cap today <b>150</b>', row.group(1))
    assert 'data-level="ok"' in row.group(1)  # too few sends for a rate to act: not red

    low_volume = Thresholds(min_volume=1)
    monkeypatch.setattr(Thresholds, "of", classmethod(lambda cls, settings: low_volume))
    loud = await admin.client.get("/admin/servers")
    row = re.search(r'<tr data-server="smtp-1">(.*?)</tr>', loud.text, re.S)
    assert row is not None
    assert 'class="num hot"' in row.group(1) and 'data-level="pause"' in row.group(1)
    others = re.findall(
        r'<tr data-server="([^"]+)">(?:(?!</tr>).)*class="num hot"', loud.text, re.S
    )
    assert others == ["smtp-1"]


async def test_pool_chip_counts_refresh_with_the_usage(admin: Web) -> None:
    page = await admin.client.get("/admin/pool")
    assert 'data-live-text="chips.healthy"' in page.text
    live = (await admin.client.get("/admin/pool/usage.json")).json()
    counts = {k: v for k, v in live["text"].items() if k.startswith("chips.")}
    assert set(counts) == {f"chips.{n}" for n in pool_routes.CHIP_NAMES}
    await admin.post(f"/admin/servers/{admin.ids['server_smtp']}/test-connection", {})
    after = (await admin.client.get("/admin/pool/usage.json")).json()["text"]
    assert int(after["chips.degraded"]) == int(counts["chips.degraded"]) + 1


async def test_a_plan_page_lists_its_customers_rules_and_asks_before_detaching(
    admin: Web,
) -> None:
    page = await admin.client.get(f"/admin/plans/{admin.ids['plan']}")
    customers_card = page.text[page.text.index('data-test="plan-customers"') :]
    assert "tenant-a" in customers_card and "tenant-b" in customers_card
    assert re.search(r'data-test="plan-rules">.*eu', customers_card)
    assert '<details class="confirm-box" data-test="detach-smtp-1">' in page.text
    assert "Yes, detach" in page.text


async def test_a_page_that_fails_answers_with_an_error_page(
    admin: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a fault on the server: SECRET-detail")

    monkeypatch.setattr(customer_views, "customers_page", broken)
    response = await admin.client.get("/admin/customers")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in response.text and "SECRET-detail" not in response.text
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_new_server_without_its_host_is_refused_beside_host(admin: Web) -> None:
    form = await admin.client.get("/admin/servers/new?type=smtp")
    host = re.search(r'<input type="text" id="f-host" name="host" value="([^"]*)"', form.text)
    assert host is not None and host.group(1) == ""
    before = data(admin)
    response = await admin.post(
        "/admin/servers/new",
        {"type": "smtp", "name": "relay-x", "sending_limit": "100", "encryption": "none"},
    )
    assert response.status_code == 422 and errors(response).get("host") == "required"
    assert data(admin) == before
