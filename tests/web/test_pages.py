"""Every admin page: a redirect to sign in without a session, 200 and no secret with one."""

from __future__ import annotations

import re

import pytest

from tests.support.admin_world import BOUNCE_SECRET, SKIP_REASON, Web
from tests.support.world import ALL_SECRETS

# (path with {ids}, a text the page must show)
PAGES = [
    ("/admin/pool", "Server types"),
    ("/admin/servers", "smtp-1"),
    ("/admin/servers/new", "New SMTP relay server"),
    ("/admin/servers/new?type=ses", "Secret access key"),
    ("/admin/servers/{server_smtp}", "Test connection"),
    ("/admin/servers/{server_ses}", "Amazon SES"),
    ("/admin/plans", "Shared"),
    ("/admin/plans/{plan}", "Sending servers in this plan"),
    ("/admin/campaigns", "a-launched"),
    ("/admin/campaigns/{campaign_a}", "Used Server"),
    ("/admin/distribution", SKIP_REASON),
]


def _url(path: str, web: Web) -> str:
    return path.format(**web.ids)


@pytest.mark.parametrize(("path", "shows"), PAGES)
async def test_page_without_session_redirects_to_sign_in(web: Web, path: str, shows: str) -> None:
    url = _url(path, web)
    response = await web.client.get(url)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/admin/login?next=")
    assert shows not in response.text


@pytest.mark.parametrize(("path", "shows"), PAGES)
async def test_page_for_an_admin_shows_everything_but_secrets(
    admin: Web, path: str, shows: str
) -> None:
    response = await admin.client.get(_url(path, admin))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert shows in response.text
    for secret in [*ALL_SECRETS, BOUNCE_SECRET]:
        assert secret not in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    # No inline script or style: the CSP above would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert " style=" not in response.text and "<style" not in response.text


async def test_secrets_show_as_set_or_not_set(admin: Web) -> None:
    page = (await admin.client.get(f"/admin/servers/{admin.ids['server_smtp']}")).text
    assert re.search(r'data-test="secret-password">set<', page)
    assert re.search(r'data-test="secret-bounce_handler.password">set<', page)
    assert re.search(r'data-test="secret-fbl_handler.password">not set<', page)


async def test_root_leads_to_sign_in_or_the_pool(web: Web) -> None:
    response = await web.client.get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    await web.login()
    response = await web.client.get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/admin/pool")
    assert (await web.client.get("/admin")).headers["location"] == "/admin/pool"


async def test_live_usage_json_needs_a_session_and_names_every_server(web: Web) -> None:
    response = await web.client.get("/admin/pool/usage.json")
    assert response.status_code == 401
    await web.login()
    data = (await web.client.get("/admin/pool/usage.json")).json()
    uid = web.ids["server_smtp"]
    assert {f"{uid}.day_used", f"{uid}.hour_cap", f"{uid}.last_activity"} <= set(data["text"])
    assert {f"{uid}.day", f"{uid}.hour"} <= set(data["bars"])
    assert data["chips"][f"{uid}.chip"] in {"healthy", "unchecked", "degraded", "warming"}
    assert data["every"] > 0


async def test_unknown_things_are_an_html_404(admin: Web) -> None:
    for url in ("/admin/servers/nope", "/admin/plans/nope", "/admin/campaigns/nope"):
        response = await admin.client.get(url)
        assert response.status_code == 404
        assert "Not found" in response.text and "<html" in response.text


async def test_bad_query_is_an_html_400(admin: Web) -> None:
    url = f"/admin/campaigns/{admin.ids['campaign_a']}?offset=-1"
    response = await admin.client.get(url)
    assert response.status_code == 400 and "Bad request" in response.text


async def test_campaign_log_searches_by_recipient_and_names_the_server(admin: Web) -> None:
    url = f"/admin/campaigns/{admin.ids['campaign_a']}"
    page = (await admin.client.get(url, params={"recipient": "a1@"})).text
    rows = re.findall(r'<tr data-recipient="([^"]+)">', page)
    assert rows == ["a1@a-tenant.example"]
    assert "Used Server <b>smtp-1</b>" in page
    none = (await admin.client.get(url, params={"recipient": "nobody"})).text
    assert "No message to nobody" in none


async def test_distribution_shows_shares_and_the_filters_reasons(admin: Web) -> None:
    page = (await admin.client.get("/admin/distribution")).text
    shared = page[page.index('data-test="plan-Shared"') :]
    assert "smtp-1" in shared and "100.0 %" in shared  # every sent message went through smtp-1
    assert SKIP_REASON in shared and ">quota<" in shared
