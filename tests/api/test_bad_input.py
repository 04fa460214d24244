"""Wrong, missing, oversized and hostile input at every entry point: a clear 4xx, nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.snapshots import db_snapshot
from tests.support.world import World, client_for

A = "/api/v1"
SRV = "/api/v1/admin/sending-servers/{server_smtp}"
BIG = "x" * (1 << 20)


@dataclass(frozen=True)
class Bad:
    label: str
    who: str
    method: str
    path: str
    status: int
    field: str | None = None  # a field the answer must name
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    files: dict[str, Any] | None = None


def smtp(**extra: Any) -> dict[str, Any]:
    return {"name": "x", "type": "smtp", "host": "h.example", "sending_limit": 1, **extra}


# fmt: off
CASES = [
    Bad("unknown field", "admin", "PATCH", SRV, 422, field="bogus", json={"bogus": 1}),
    Bad("string for int", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": "5000"}),
    Bad("bool for int", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": True}),
    Bad("float for int", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": 5.5}),
    Bad("negative limit", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": -1}),
    Bad("huge limit", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": 10**30}),
    Bad("null for required", "admin", "PATCH", SRV, 422, field="sending_limit", json={"sending_limit": None}),
    Bad("bad port", "admin", "PATCH", SRV, 422, field="port", json={"port": 70000}),
    Bad("string for port", "admin", "PATCH", SRV, 422, field="port", json={"port": "2525"}),
    Bad("other type's secret", "admin", "PATCH", SRV, 422, field="api_key", json={"api_key": "k"}),
    Bad("bad time zone", "admin", "PATCH", SRV, 422, field="timezone", json={"timezone": "Mars/Olympus"}),
    Bad("bad sender", "admin", "PATCH", SRV, 422, field="default_from_email", json={"default_from_email": "nope"}),
    Bad("bad warm-up", "admin", "PATCH", SRV, 422, field="warmup.start_daily", json={"warmup": {"start_daily": -5, "growth_percent": 1, "target_daily": 9, "started_on": "2026-01-01"}}),
    Bad("bad date", "admin", "PATCH", SRV, 422, field="warmup.started_on", json={"warmup": {"start_daily": 5, "growth_percent": 1, "target_daily": 9, "started_on": "soon"}}),
    Bad("unknown plan", "admin", "PATCH", SRV, 422, field="plans", json={"plans": ["Nope"]}),
    Bad("name taken", "admin", "PATCH", SRV, 409, json={"name": "ses-1"}),
    Bad("control chars in name", "admin", "PATCH", SRV, 422, field="name", json={"name": "a\r\nb"}),
    Bad("unknown type", "admin", "POST", A + "/admin/sending-servers", 422, field="type", json=smtp(type="carrier-pigeon")),
    Bad("missing host", "admin", "POST", A + "/admin/sending-servers", 422, field="host", json={"name": "x", "type": "smtp", "sending_limit": 1}),
    Bad("missing limit", "admin", "POST", A + "/admin/sending-servers", 422, field="sending_limit", json={"name": "x", "type": "smtp", "host": "h"}),
    Bad("secret in wrong type", "admin", "POST", A + "/admin/sending-servers", 422, field="server_token", json=smtp(server_token="t")),
    Bad("plain http to a vendor", "admin", "POST", A + "/admin/sending-servers", 422, field="base_url", json={"name": "x", "type": "postmark", "sending_limit": 1, "base_url": "http://evil.example"}),
    Bad("empty secret", "admin", "POST", A + "/admin/sending-servers", 422, field="password", json=smtp(password="")),
    Bad("test email to nobody", "admin", "POST", SRV + "/test-email", 422, field="to", json={"to": "not an address", "from_email": "a@example.com"}),
    Bad("not JSON", "admin", "PATCH", SRV, 422, field="body", content=b'sending_limit=5000', headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Bad("JSON array", "admin", "PATCH", SRV, 422, field="body", content=b'[1, 2]'),
    Bad("JSON null", "admin", "POST", A + "/admin/plans", 422, field="body", content=b'null'),
    Bad("no body", "admin", "POST", A + "/admin/plans", 422, field="body"),
    Bad("broken JSON", "admin", "POST", A + "/admin/plans", 422, field="body", content=b'{"name": '),
    Bad("oversized JSON", "admin", "POST", A + "/admin/plans", 413, json={"name": BIG}),
    Bad("lying Content-Length", "admin", "POST", A + "/admin/plans", 400, content=b'{}', headers={"Content-Length": "abc"}),
    Bad("plan with unknown server", "admin", "POST", A + "/admin/plans", 422, field="servers", json={"name": "P2", "servers": ["ghost"]}),
    Bad("plan name taken", "admin", "POST", A + "/admin/plans", 409, json={"name": "Shared"}),
    Bad("zero burst threshold", "admin", "PATCH", A + "/admin/plans/{plan}", 422, field="burst_threshold", json={"burst_threshold": 0}),
    Bad("plan null name", "admin", "PATCH", A + "/admin/plans/{plan}", 422, field="name", json={"name": None}),
    Bad("attach a ghost", "admin", "PUT", A + "/admin/plans/{plan}/sending-servers/ghost", 404),
    Bad("customer with ghost plan", "admin", "POST", A + "/admin/customers", 422, field="plan", json={"name": "c", "plan": "ghost"}),
    Bad("customer name taken", "admin", "PATCH", A + "/admin/customers/{customer_a}", 409, json={"name": "tenant-b"}),
    Bad("long region", "admin", "PATCH", A + "/admin/customers/{customer_a}", 422, field="region", json={"region": "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"}),
    Bad("rule to ghost plan", "admin", "PUT", A + "/admin/region-rules/us", 422, field="plan", json={"plan": "ghost"}),
    Bad("token for ghost", "admin", "POST", A + "/admin/tokens", 404, json={"name": "t", "customer": "ghost"}),
    Bad("unknown audit filter", "admin", "GET", A + "/admin/audit-log", 422, field="query.limit", params={"limit": 0}),
    Bad("rebalance flag not a bool", "admin", "POST", A + "/admin/rebalance", 422, field="query.dry_run", params={"dry_run": "maybe"}),
    Bad("list name empty", "a", "POST", A + "/lists", 422, field="name", json={"name": ""}),
    Bad("list name taken", "a", "POST", A + "/lists", 409, json={"name": "A-newsletter"}),
    Bad("header injection in field", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers.0.fields.first_name", json={"subscribers": [{"email": "x@example.com", "fields": {"first_name": "X\r\nBcc: all@example.com"}}]}),
    Bad("bad field name", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers.0.fields.Bad Name", json={"subscribers": [{"email": "x@example.com", "fields": {"Bad Name": "x"}}]}),
    Bad("too many subscribers", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers", json={"subscribers": [{"email": f"u{i}@example.com"} for i in range(1001)]}),
    Bad("no subscribers", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers", json={"subscribers": []}),
    Bad("upload without file", "a", "POST", A + "/lists/{list_a}/subscribers/import", 422, field="file", files={"other": ("x.csv", b'email\n', "text/csv")}),
    Bad("upload JSON instead", "a", "POST", A + "/lists/{list_a}/subscribers/import", 422, field="file", json={"file": "email\nx@example.com"}),
    Bad("upload, no email column", "a", "POST", A + "/lists/{list_a}/subscribers/import", 422, files={"file": ("x.csv", b'name\nann\n', "text/csv")}),
    Bad("upload, not UTF-8", "a", "POST", A + "/lists/{list_a}/subscribers/import", 422, files={"file": ("x.csv", b'email\n\xff\xfe@x\n', "text/csv")}),
    Bad("upload, only bad rows", "a", "POST", A + "/lists/{list_a}/subscribers/import", 422, field="file", files={"file": ("x.csv", b'email\nbroken\n', "text/csv")}),
    Bad("campaign, header injection", "a", "POST", A + "/campaigns", 422, field="subject", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi\r\nBcc: all@example.com", "from_email": "n@example.com", "text": "t"}),
    Bad("campaign, template escape", "a", "POST", A + "/campaigns", 422, field="text", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "n@example.com", "text": "{{ ''.__class__.__mro__ }}"}),
    Bad("campaign, broken template", "a", "POST", A + "/campaigns", 422, field="html", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "n@example.com", "html": "{% if %}"}),
    Bad("campaign, no body", "a", "POST", A + "/campaigns", 422, field="text", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "n@example.com"}),
    Bad("campaign, bad sender", "a", "POST", A + "/campaigns", 422, field="from_email", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "nobody", "text": "t"}),
    Bad("campaign, other's list", "b", "POST", A + "/campaigns", 422, field="list_uid", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "n@example.com", "text": "t"}),
    Bad("campaign, plan smuggled in", "a", "POST", A + "/campaigns", 422, field="plan_id", json={"name": "c", "list_uid": "{list_a}", "subject": "Hi", "from_email": "n@example.com", "text": "t", "plan_id": 1}),
    Bad("launch twice", "a", "POST", A + "/campaigns/{campaign_a}/launch", 409),
    Bad("resume a draft", "a", "POST", A + "/campaigns/{draft_a}/resume", 409),
    Bad("pause a draft", "a", "POST", A + "/campaigns/{draft_a}/pause", 409),
    Bad("page too big", "a", "GET", A + "/campaigns/{campaign_a}/messages", 422, field="query.limit", params={"limit": 501}),
    Bad("negative offset", "a", "GET", A + "/messages", 422, field="query.offset", params={"offset": -1}),
    Bad("limit not a number", "a", "GET", A + "/messages", 422, field="query.limit", params={"limit": "ten"}),
    Bad("message, bad recipient", "a", "POST", A + "/messages", 422, field="to", json={"to": "x", "subject": "s", "from_email": "a@example.com", "text": "t"}),
    Bad("message, no body", "a", "POST", A + "/messages", 422, field="text", json={"to": "x@example.com", "subject": "s", "from_email": "a@example.com"}),
    Bad("message, template escape", "a", "POST", A + "/messages", 422, field="subject", json={"to": "x@example.com", "subject": "{{ ''.__class__.__mro__ }}", "from_email": "a@example.com", "text": "t"}),
    Bad("message, nested field", "a", "POST", A + "/messages", 422, field="fields.order", json={"to": "x@example.com", "subject": "s", "from_email": "a@example.com", "text": "t", "fields": {"order": {"id": 1}}}),
    Bad("message, oversized", "a", "POST", A + "/messages", 413, json={"to": "x@example.com", "subject": "s", "from_email": "a@example.com", "text": BIG}),
    Bad("huge limit on create", "admin", "POST", A + "/admin/sending-servers", 422, field="sending_limit", json=smtp(sending_limit=10**20)),
    Bad("number past 4300 digits", "admin", "PATCH", SRV, 422, field="body", content=b'{"sending_limit": 1' + b"0" * 5000 + b"}"),
    Bad("huge warm-up target", "admin", "PATCH", SRV, 422, field="warmup.target_daily", json={"warmup": {"start_daily": 5, "growth_percent": 1, "target_daily": 10**20, "started_on": "2026-01-01"}}),
    Bad("warm-up start above target", "admin", "PATCH", SRV, 422, field="warmup.start_daily", json={"warmup": {"start_daily": 50, "growth_percent": 1, "target_daily": 9, "started_on": "2026-01-01"}}),
    Bad("bool for port", "admin", "PATCH", SRV, 422, field="port", json={"port": True}),
    Bad("CR LF in host", "admin", "PATCH", SRV, 422, field="host", json={"host": "h.example\r\nRSET"}),
    Bad("server name of another case", "admin", "PATCH", SRV, 409, field="name", json={"name": "SES-1"}),
    Bad("huge burst threshold", "admin", "POST", A + "/admin/plans", 422, field="burst_threshold", json={"name": "P3", "burst_threshold": 10**20}),
    Bad("plan name of another case", "admin", "POST", A + "/admin/plans", 409, field="name", json={"name": "shared "}),
    Bad("customer name of another case", "admin", "POST", A + "/admin/customers", 409, field="name", json={"name": "TENANT-B"}),
    Bad("huge subscriber field", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers.0.fields.n", json={"subscribers": [{"email": "x@example.com", "fields": {"n": 10**20}}]}),
    Bad("infinite subscriber field", "a", "POST", A + "/lists/{list_a}/subscribers", 422, field="subscribers.0.fields.n", content=b'{"subscribers": [{"email": "x@example.com", "fields": {"n": 1e999}}]}'),
    Bad("huge message field", "a", "POST", A + "/messages", 422, field="fields.n", json={"to": "x@example.com", "subject": "s", "from_email": "a@example.com", "text": "t", "fields": {"n": -(10**20)}}),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
async def test_bad_input_is_refused_clearly_and_changes_nothing(world: World, case: Bad) -> None:
    def fill(value: Any) -> Any:
        """Put the world's uids where the table names them: "{list_a}" and the like."""
        if isinstance(value, str):
            return world.ids.get(value.strip("{}"), value) if value.startswith("{") else value
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    kwargs: dict[str, Any] = {"headers": {**world.auth(case.who), **(case.headers or {})}}
    for name in ("json", "content", "params", "files"):
        value = getattr(case, name)
        if value is not None:
            kwargs[name] = fill(value) if name == "json" else value
    path = "/".join(fill(part) for part in case.path.split("/"))
    before = db_snapshot(world.rt)
    r = await world.client.request(case.method, path, **kwargs)
    assert r.status_code == case.status, r.text
    body = r.json()
    assert body["detail"], body
    if case.field is not None:
        assert case.field in [e["field"] for e in body["errors"]], body
    assert db_snapshot(world.rt) == before


async def test_a_streamed_body_over_the_limit_is_refused(world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(300):
            yield b"y" * 4096
        yield b'"}'

    before = db_snapshot(world.rt)
    r = await world.client.post(A + "/admin/plans", content=chunks(), headers=world.auth("admin"))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert db_snapshot(world.rt) == before


async def test_uploads_have_their_own_limit(world: World) -> None:
    world.rt.settings.api_max_upload_bytes = 4096
    async with client_for(world.rt) as client:
        csv = b"email\n" + b"".join(f"u{i}@example.com\n".encode() for i in range(1000))
        r = await client.post(
            A + f"/lists/{world.ids['list_a']}/subscribers/import",
            files={"file": ("big.csv", csv, "text/csv")},
            headers=world.auth("a"),
        )
    assert r.status_code == 413 and "upload" in r.json()["detail"]


async def test_unknown_routes_and_methods_answer_in_the_same_shape(world: World) -> None:
    r = await world.client.get(A + "/nowhere", headers=world.auth("admin"))
    assert r.status_code == 404 and r.json()["detail"]
    r = await world.client.put(A + "/lists", headers=world.auth("a"))
    assert r.status_code == 405 and r.json()["detail"]
