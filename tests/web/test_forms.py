"""The forms: refused input is shown again with each error next to its field; secrets stay secret."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from sendpool.services.servers.queries import get_server, list_server_details
from sendpool.services.tenancy.plans import get_plan
from sendpool.store.tables import SendingServer
from tests.support.admin_world import BOUNCE_SECRET, Web

_ERROR = re.compile(r'data-error-for="([^"]+)">([^<]*)<')


def errors(response: httpx.Response) -> dict[str, str]:
    return dict(_ERROR.findall(response.text))


def flash(response: httpx.Response) -> str:
    found = re.search(r'data-test="flash">\s*<strong>([^<]*)</strong>', response.text)
    return found.group(1) if found else ""


SMTP = {
    "type": "smtp",
    "host": "127.0.0.1",
    "port": "2525",
    "encryption": "none",
    "name": "relay-new",
    "sending_limit": "1000",
    "max_connections": "4",
    "timezone": "UTC",
    "enabled": "on",
}


async def test_new_server_errors_are_shown_next_to_each_field(admin: Web) -> None:
    before = len(admin.rt.db.transaction(list_server_details, admin.rt.box))
    bad = {
        **SMTP,
        "port": "25x",
        "sending_limit": "",
        "hourly_limit": "-5",
        "rate_per_second": "fast",
    }
    response = await admin.post("/admin/servers/new", bad)
    assert response.status_code == 422
    assert errors(response) == {
        "port": "must be a whole number",
        "sending_limit": "required",
        "rate_per_second": "must be a number",
    }
    assert 'value="25x"' in response.text  # what was typed is shown again
    # The services' own checks, all at once: type settings, common keys, warm-up, mailboxes.
    bad = {**SMTP, "port": "70000", "timezone": "Mars/Olympus", "hourly_limit": "-5",
           "default_from_email": "not-an-address", "warmup.on": "on",
           "warmup.start_daily": "100", "bounce_handler.enabled": "on"}  # fmt: skip
    response = await admin.post("/admin/servers/new", bad)
    assert response.status_code == 422
    found = errors(response)
    assert set(found) >= {
        "port",
        "timezone",
        "hourly_limit",
        "default_from_email",
        "warmup.growth_percent",
        "warmup.target_daily",
        "warmup.started_on",
        "bounce_handler.host",
        "bounce_handler.password",
    }, found
    assert "Mars/Olympus" in found["timezone"]
    assert len(admin.rt.db.transaction(list_server_details, admin.rt.box)) == before


async def test_a_taken_name_is_an_error_next_to_the_name(admin: Web) -> None:
    response = await admin.post("/admin/servers/new", {**SMTP, "name": "smtp-1"})
    assert response.status_code == 422
    assert "already exists" in errors(response)["name"]


async def test_new_server_with_its_secret_and_mailboxes(admin: Web) -> None:
    form = {**SMTP, "password": "SECRET-typed-in-4411", "warmup.on": "on",
            "warmup.start_daily": "50", "warmup.growth_percent": "25",
            "warmup.target_daily": "5000", "warmup.started_on": "2026-11-01",
            "fbl_handler.enabled": "on", "fbl_handler.host": "pop.example.com",
            "fbl_handler.port": "995", "fbl_handler.protocol": "pop3",
            "fbl_handler.username": "fbl", "fbl_handler.password": "SECRET-fbl-9"}  # fmt: skip
    response = await admin.post("/admin/servers/new", form)
    assert response.status_code == 303, errors(response)
    page = await admin.client.get(response.headers["location"])
    assert flash(page) == "Server relay-new created"
    for secret in ("SECRET-typed-in-4411", "SECRET-fbl-9"):
        assert secret not in page.text
    assert 'data-test="secret-password">set<' in page.text
    assert 'data-test="secret-fbl_handler.password">set<' in page.text
    detail = admin.rt.db.transaction(get_server, admin.rt.box, "relay-new")
    assert detail.secrets_set == ["password"]
    assert detail.warmup is not None and detail.warmup["target_daily"] == 5000
    stored = admin.rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.fbl_handler).where(SendingServer.name == "relay-new")
        ).scalar_one()
    )
    assert stored["host"] == "pop.example.com" and stored["protocol"] == "pop3"
    assert "SECRET-fbl-9" not in str(stored)  # sealed, never stored in plain text


async def _server_form(admin: Web, uid: str) -> dict[str, str]:
    """The form as the page fills it in (inputs with values, checked boxes, selected options)."""
    text = (await admin.client.get(f"/admin/servers/{uid}")).text
    form = text[text.index('action="/admin/servers/' + uid + '" novalidate') :]
    form = form[: form.index("</form>")]
    values = dict(
        re.findall(r'<input type="(?:text|email|date)"[^>]* name="([^"]+)" value="([^"]*)"', form)
    )
    values |= {
        n: "on" for n in re.findall(r'type="checkbox" id="[^"]+" name="([^"]+)" checked', form)
    }
    for name, options in re.findall(
        r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', form, re.S
    ):
        chosen = re.search(r'<option value="([^"]+)" selected', options)
        if chosen:
            values[name] = chosen.group(1)
    values["type"] = re.search(r'name="type" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return values


async def test_saving_a_server_keeps_blank_secrets_and_clears_on_request(admin: Web) -> None:
    uid = admin.ids["server_smtp"]
    form = await _server_form(admin, uid)
    response = await admin.post(f"/admin/servers/{uid}", {**form, "sending_limit": "2500"})
    assert response.status_code == 303, errors(response)
    assert flash(await admin.client.get(response.headers["location"])) == "Saved"
    detail = admin.rt.db.transaction(get_server, admin.rt.box, uid)
    assert detail.sending_limit == 2500 and detail.secrets_set == ["password"]
    assert detail.settings["username"] == "mailer"  # untouched fields stay as they were

    response = await admin.post(f"/admin/servers/{uid}", {**form, "clear:password": "on"})
    assert response.status_code == 303
    assert admin.rt.db.transaction(get_server, admin.rt.box, uid).secrets_set == []
    page = (await admin.client.get(f"/admin/servers/{uid}")).text
    assert 'data-test="secret-password">not set<' in page
    assert 'data-test="secret-bounce_handler.password">set<' in page  # the mailbox kept its own
    assert BOUNCE_SECRET not in page


async def test_a_refused_save_changes_nothing_and_shows_what_was_typed(admin: Web) -> None:
    uid = admin.ids["server_smtp"]
    form = await _server_form(admin, uid)
    response = await admin.post(
        f"/admin/servers/{uid}", {**form, "name": "Renamed", "timezone": "Nowhere/Land"}
    )
    assert response.status_code == 422
    assert "Nowhere/Land" in errors(response)["timezone"]
    assert 'value="Renamed"' in response.text
    assert admin.rt.db.transaction(get_server, admin.rt.box, uid).name == "smtp-1"


async def test_test_email_errors_sit_in_the_toolbar(admin: Web) -> None:
    uid = admin.ids["server_smtp"]
    response = await admin.post(f"/admin/servers/{uid}/test-email", {"to": "not an address"})
    assert response.status_code == 422
    assert "test.to" in errors(response)
    assert 'value="not an address"' in response.text


async def test_a_failed_connection_test_is_shown_and_recorded(admin: Web) -> None:
    uid = admin.ids["server_smtp"]  # port 9 on loopback: nothing listens there
    response = await admin.post(f"/admin/servers/{uid}/test-connection", {})
    assert response.status_code == 303
    page = await admin.client.get(response.headers["location"])
    assert flash(page) == "Connection failed"
    assert 'class="chip chip-degraded"' in page.text
    again = await admin.client.get(f"/admin/servers/{uid}")
    assert flash(again) == ""  # a result is shown once


async def test_plans_are_made_and_filled_through_the_forms(admin: Web) -> None:
    response = await admin.post("/admin/plans", {"name": "", "burst_threshold": "many"})
    assert response.status_code == 422
    assert errors(response) == {"name": "required", "burst_threshold": "must be a whole number"}
    response = await admin.post("/admin/plans", {"name": "Shared", "burst_threshold": "0"})
    assert response.status_code == 422
    assert errors(response) == {"burst_threshold": "must be between 1 and 1,000,000,000"}
    response = await admin.post("/admin/plans", {"name": "Shared"})
    assert "already exists" in errors(response)["name"]

    response = await admin.post("/admin/plans", {"name": "Transactional", "burst_threshold": "200"})
    assert response.status_code == 303
    plan_url = response.headers["location"]
    server = admin.ids["server_idle"]
    response = await admin.post(plan_url + "/servers", {"server": server})
    assert flash(await admin.client.get(response.headers["location"])) == (
        "idle-1 attached to Transactional"
    )
    plan = admin.rt.db.transaction(get_plan, "Transactional")
    assert [s.name for s in plan.servers] == ["idle-1"] and plan.burst_threshold == 200

    # From the server's page: attach to another plan, then detach and come back there.
    response = await admin.post(f"/admin/servers/{server}/plans", {"plan": "Spare"})
    assert response.headers["location"] == f"/admin/servers/{server}"
    back = f"/admin/servers/{server}"
    response = await admin.post(f"{plan_url}/servers/{server}/detach", {"next": back})
    assert response.headers["location"] == back
    assert admin.rt.db.transaction(get_plan, "Transactional").servers == []
    assert [s.name for s in admin.rt.db.transaction(get_plan, "Spare").servers] == ["idle-1"]
