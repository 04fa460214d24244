"""The server page's bounce domain input: saved as the other faces save it, refused alike."""

from __future__ import annotations

from sendpool.services.servers.queries import get_server
from tests.support.admin_world import Web
from tests.support.snapshots import db_snapshot
from tests.web.test_forms import SMTP, _server_form, errors


async def test_the_form_saves_shows_and_clears_the_bounce_domain(admin: Web) -> None:
    uid = admin.ids["server_smtp"]
    form = await _server_form(admin, uid)
    assert form["bounce_domain"] == ""
    response = await admin.post(
        f"/admin/servers/{uid}", {**form, "bounce_domain": "Bounce.Example.COM"}
    )
    assert response.status_code == 303, errors(response)
    assert (
        admin.rt.db.transaction(get_server, admin.rt.box, uid).bounce_domain == "bounce.example.com"
    )
    assert (await _server_form(admin, uid))["bounce_domain"] == "bounce.example.com"

    response = await admin.post(f"/admin/servers/{uid}", {**form, "bounce_domain": ""})
    assert response.status_code == 303, errors(response)
    assert admin.rt.db.transaction(get_server, admin.rt.box, uid).bounce_domain is None


async def test_a_bad_bounce_domain_is_an_error_next_to_it_and_nothing_changes(admin: Web) -> None:
    uid = admin.ids["server_smtp"]
    form = await _server_form(admin, uid)
    before = db_snapshot(admin.rt)
    saved = await admin.post(f"/admin/servers/{uid}", {**form, "bounce_domain": "a_b.example.com"})
    created = await admin.post("/admin/servers/new", {**SMTP, "bounce_domain": "not a domain"})
    for response in (saved, created):
        assert response.status_code == 422
        assert "not a mail domain" in errors(response)["bounce_domain"]
    assert db_snapshot(admin.rt) == before
