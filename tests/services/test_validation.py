"""Values every face refused too late or not at all: huge numbers, booleans, warm-up order,
control characters and look-alike names, each refused alike by the pool file, the API and
the form, naming the field, with nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sendpool.errors import ConfigError
from sendpool.services.errors import FieldError
from sendpool.services.pool.file import parse_pool
from sendpool.services.servers.changes import check_settings
from tests.services.test_server_fields import (  # noqa: F401  (fixtures)
    API_SERVER,
    POOL_SERVER,
    SRV,
    WARMUP,
    _flat,
    template,
    web,
)
from tests.support.admin_world import Web
from tests.support.snapshots import db_snapshot
from tests.web.test_forms import SMTP, errors

HUGE = 99999999999999999999


@dataclass(frozen=True)
class Bad:
    label: str
    key: str
    value: Any  # as JSON and TOML carry it
    field: str
    form: str | None = None  # as typed in the form; None: the form cannot say it


CASES = [
    Bad("huge daily limit", "sending_limit", HUGE, "sending_limit", str(HUGE)),
    Bad("huge hourly limit", "hourly_limit", HUGE, "hourly_limit", str(HUGE)),
    Bad("huge connections", "max_connections", HUGE, "max_connections", str(HUGE)),
    Bad("huge messages per connection", "max_messages_per_connection", HUGE, "max_messages_per_connection", str(HUGE)),
    Bad("huge rate", "rate_per_second", HUGE, "rate_per_second", str(HUGE)),
    Bad("huge port", "port", HUGE, "port", str(HUGE)),
    Bad("true for a limit", "sending_limit", True, "sending_limit", "true"),
    Bad("true for a port", "port", True, "port", "true"),
    Bad("true for a rate", "rate_per_second", True, "rate_per_second", "true"),
    Bad("huge warm-up start", "warmup", {**WARMUP, "start_daily": HUGE}, "warmup.start_daily", ""),
    Bad("true for a warm-up target", "warmup", {**WARMUP, "target_daily": True}, "warmup.target_daily"),
    Bad("warm-up start above target", "warmup", {**WARMUP, "start_daily": 1000, "target_daily": 10}, "warmup.start_daily", ""),
    Bad("CR LF in the host", "host", "relay.example\r\nRCPT TO:<x@example.com>", "host", "relay.example\r\nx"),
    Bad("a URL for a host", "host", "smtp://relay.example/x", "host", "smtp://relay.example/x"),
    Bad("a space in the host", "host", "relay example", "host", "relay example"),
    Bad("CR LF in the HELO name", "helo_name", "me\r\nQUIT", "helo_name", "me\r\nQUIT"),
    Bad("CR LF in the user", "username", "u\r\nx", "username", "u\r\nx"),
    Bad("NUL in the CA file", "ca_file", "/etc/ssl/x\x00.pem", "ca_file", "/etc/ssl/x\x00.pem"),
    Bad("CR LF in a mailbox host", "bounce_handler", {"host": "imap.example\r\nx"}, "bounce_handler.host", ""),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
async def test_every_face_refuses_it_naming_the_field(
    web: tuple[Web, dict[str, str]],  # noqa: F811
    case: Bad,
) -> None:
    w, auth = web
    before = db_snapshot(w.rt)
    if case.key != "bounce_handler":  # mailboxes are set from the API and the pages only
        with pytest.raises(ConfigError) as refused:
            parse_pool({"servers": [{**POOL_SERVER, case.key: case.value}]}, {})
        assert f"{case.field}:" in str(refused.value)
    created = await w.client.post(SRV, json={**API_SERVER, case.key: case.value}, headers=auth)
    assert created.status_code == 422, created.text
    assert case.field in [e["field"] for e in created.json()["errors"]], created.json()
    uid = w.ids["server_smtp"]
    patched = await w.client.patch(f"{SRV}/{uid}", json={case.key: case.value}, headers=auth)
    assert patched.status_code == 422, patched.text
    assert case.field in [e["field"] for e in patched.json()["errors"]], patched.json()
    if case.form is not None:
        typed = {case.key: case.form} if case.form else _flat(case.key, case.value)
        response = await w.post("/admin/servers/new", {**SMTP, **typed})
        assert response.status_code == 422
        assert case.field in errors(response), errors(response)
    assert db_snapshot(w.rt) == before


def test_warmup_start_above_target_says_what_is_wrong() -> None:
    warm = {**WARMUP, "start_daily": 1000, "target_daily": 10}
    with pytest.raises(ConfigError, match=r"warmup\.start_daily: must not exceed target_daily"):
        parse_pool({"servers": [{**POOL_SERVER, "warmup": warm}]}, {})
    # Equal is a server that starts warm: allowed.
    parse_pool({"servers": [{**POOL_SERVER, "warmup": {**warm, "start_daily": 10}}]}, {})


VENDOR = [
    ("ses", "endpoint_url", "https://ses.example\r\nX-Injected: 1"),
    ("ses", "configuration_set", "set\r\nX: 1"),
    ("ses", "access_key_id", "AKIAEXAMPLE\r\nEXAMPLE1"),
    ("mailgun", "domain", "mg.example.com\r\n"),
    ("mailgun", "domain", "mg example.com"),
    ("mailgun", "base_url", "https://api.mailgun.net\r\n"),
    ("postmark", "message_stream", "outbound\r\nX: 1"),
    ("postmark", "base_url", "https://api.postmarkapp.com\t"),
    ("sendgrid", "base_url", "https://api.sendgrid.com\r\n"),
]
REQUIRED = {"ses": {"region": "eu-west-1"}, "mailgun": {"domain": "mg.example.com"}}


@pytest.mark.parametrize(("kind", "key", "value"), VENDOR)
async def test_vendor_settings_refuse_control_characters(
    web: tuple[Web, dict[str, str]],  # noqa: F811
    kind: str,
    key: str,
    value: str,
) -> None:
    with pytest.raises(FieldError) as refused:
        check_settings(kind, {**REQUIRED.get(kind, {}), key: value})
    assert key in [f for f, _ in refused.value.errors]
    w, auth = web
    before = db_snapshot(w.rt)
    uid = w.ids[f"server_{kind}"]
    r = await w.client.patch(f"{SRV}/{uid}", json={key: value}, headers=auth)
    assert r.status_code == 422, r.text
    assert key in [e["field"] for e in r.json()["errors"]]
    assert db_snapshot(w.rt) == before


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "::1", "relay", "smtp.example.com", "smtp.example.com.", "mail.exämple.de"],
)
def test_hosts_people_really_use_are_taken(host: str) -> None:
    assert check_settings("smtp", {"host": host})["host"] == host


async def test_names_are_trimmed_on_every_face(web: tuple[Web, dict[str, str]]) -> None:  # noqa: F811
    _, (decl,) = parse_pool({"servers": [{**POOL_SERVER, "name": " relay-a  "}]}, {})
    assert decl.name == "relay-a"
    w, auth = web
    r = await w.client.post(SRV, json={**API_SERVER, "name": "  new-1 "}, headers=auth)
    assert r.status_code == 201 and r.json()["name"] == "new-1"
    r = await w.client.post(SRV, json={**API_SERVER, "name": "new-1 "}, headers=auth)
    assert r.status_code == 409
    r = await w.client.post("/api/v1/admin/plans", json={"name": " Gold "}, headers=auth)
    assert r.status_code == 201 and r.json()["name"] == "Gold"
    r = await w.client.post("/api/v1/admin/customers", json={"name": " acme  "}, headers=auth)
    assert r.status_code == 201 and r.json()["name"] == "acme"
    response = await w.post("/admin/servers/new", {**SMTP, "name": " relay-new "})
    assert response.status_code == 303, errors(response)
    r = await w.client.get(f"{SRV}/relay-new", headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "relay-new"


async def test_names_are_unique_without_regard_to_case(web: tuple[Web, dict[str, str]]) -> None:  # noqa: F811
    w, auth = web
    before = db_snapshot(w.rt)
    clashes = [
        (SRV, {**API_SERVER, "name": "SMTP-1"}, "a sending server named 'smtp-1' already exists"),
        ("/api/v1/admin/plans", {"name": "SHARED"}, "a plan named 'Shared' already exists"),
        ("/api/v1/admin/customers", {"name": "Tenant-A"}, "a customer named 'tenant-a' already exists"),
    ]  # fmt: skip
    for path, body, said in clashes:
        r = await w.client.post(path, json=body, headers=auth)
        assert r.status_code == 409, r.text
        assert said in r.json()["detail"]
        assert [e["field"] for e in r.json()["errors"]] == ["name"]
    uid = w.ids["server_ses"]
    r = await w.client.patch(f"{SRV}/{uid}", json={"name": "Smtp-1"}, headers=auth)
    assert r.status_code == 409 and "'smtp-1' already exists" in r.json()["detail"]
    response = await w.post("/admin/servers/new", {**SMTP, "name": "SMTP-1"})
    assert response.status_code == 422
    assert "already exists" in errors(response)["name"]
    assert db_snapshot(w.rt) == before
    # A server may change the case of its own name.
    r = await w.client.patch(f"{SRV}/{uid}", json={"name": "SES-1"}, headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "SES-1"


async def test_lookups_by_name_are_exact_first_then_without_case(
    web: tuple[Web, dict[str, str]],  # noqa: F811
) -> None:
    w, auth = web
    r = await w.client.get(f"{SRV}/SMTP-1", headers=auth)
    assert r.status_code == 200 and r.json()["uid"] == w.ids["server_smtp"]
    r = await w.client.get("/api/v1/admin/plans/shared", headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "Shared"
    r = await w.client.get(f"{SRV}/smtp-2", headers=auth)
    assert r.status_code == 404
