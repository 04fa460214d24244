"""Every route x every kind of caller, with the status each must get.

Callers: no token, a malformed token, a revoked token, customer A, customer
B and an admin. Refused calls change nothing; no answer carries a secret;
a customer never sees the other customer's data. A route added without a
row here fails ``test_every_route_is_in_the_matrix``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from tests.support.snapshots import db_snapshot
from tests.support.world import ALL_SECRETS, World, server_fields

CALLERS = ("none", "malformed", "revoked", "a", "b", "admin")
Ids = dict[str, str]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {placeholders} filled from World.ids
    scope: str  # admin | customer | any | public
    ok: int = 200
    body: Callable[[Ids], Any] | None = None
    b: int | None = None  # customer B's status; default: 404 when the path names A's things
    files: dict[str, Any] | None = None
    setup: tuple[tuple[str, str], ...] = field(default=())  # calls A makes first


def _csv() -> dict[str, Any]:
    return {"file": ("people.csv", b"email\nnew1@a-tenant.example\n", "text/csv")}


SRV = "/api/v1/admin/sending-servers"
ROUTES = [
    Route("GET", SRV, "admin"),
    Route("POST", SRV, "admin", 201, lambda i: server_fields("smtp", "new-relay")),
    Route("GET", SRV + "/{server_smtp}", "admin"),
    Route("PATCH", SRV + "/{server_smtp}", "admin", body=lambda i: {"sending_limit": 7}),
    Route("DELETE", SRV + "/{server_idle}", "admin"),
    Route("GET", SRV + "/{server_smtp}/stats", "admin"),
    Route("POST", SRV + "/{server_smtp}/test-connection", "admin"),
    Route(
        "POST",
        SRV + "/{server_smtp}/test-email",
        "admin",
        body=lambda i: {"to": "ops@example.com", "from_email": "ops@example.com"},
    ),
    Route("GET", "/api/v1/admin/plans", "admin"),
    Route("POST", "/api/v1/admin/plans", "admin", 201, lambda i: {"name": "New plan"}),
    Route("GET", "/api/v1/admin/plans/{plan}", "admin"),
    Route("PATCH", "/api/v1/admin/plans/{plan}", "admin", body=lambda i: {"burst_threshold": 9}),
    Route("DELETE", "/api/v1/admin/plans/{plan_spare}", "admin"),
    Route("PUT", "/api/v1/admin/plans/{plan}/sending-servers/{server_postmark}", "admin"),
    Route("DELETE", "/api/v1/admin/plans/{plan}/sending-servers/{server_ses}", "admin"),
    Route("GET", "/api/v1/admin/customers", "admin"),
    Route("POST", "/api/v1/admin/customers", "admin", 201, lambda i: {"name": "tenant-c"}),
    Route("GET", "/api/v1/admin/customers/{customer_a}", "admin"),
    Route(
        "PATCH", "/api/v1/admin/customers/{customer_a}", "admin", body=lambda i: {"region": "eu"}
    ),
    Route("DELETE", "/api/v1/admin/customers/{customer_empty}", "admin"),
    Route("GET", "/api/v1/admin/customers/{customer_a}/sending-domains", "admin"),
    Route("PUT", "/api/v1/admin/customers/{customer_a}/sending-domains/fresh.example", "admin"),
    Route(
        "DELETE", "/api/v1/admin/customers/{customer_a}/sending-domains/a-tenant.example", "admin"
    ),
    Route("GET", "/api/v1/admin/region-rules", "admin"),
    Route("GET", "/api/v1/admin/region-rules/eu", "admin"),
    Route("PUT", "/api/v1/admin/region-rules/us", "admin", body=lambda i: {"plan": "Spare"}),
    Route("DELETE", "/api/v1/admin/region-rules/eu", "admin"),
    Route("GET", "/api/v1/admin/pool", "admin"),
    Route("GET", "/api/v1/admin/audit-log", "admin"),
    Route("GET", "/api/v1/admin/tokens", "admin"),
    Route("POST", "/api/v1/admin/tokens", "admin", 201, lambda i: {"name": "ci"}),
    Route("DELETE", "/api/v1/admin/tokens/{token_a}", "admin"),
    Route("POST", "/api/v1/admin/rebalance", "admin"),
    Route("POST", "/api/v1/admin/campaigns/{campaign_a}/send-waiting-now", "admin"),
    Route("POST", "/api/v1/admin/plans/{plan}/send-waiting-now", "admin"),
    Route("GET", "/api/v1/me", "any"),
    Route("GET", "/api/v1/servers", "customer"),
    Route("GET", "/api/v1/sending-domains", "customer"),
    Route("GET", "/api/v1/lists", "customer"),
    Route("POST", "/api/v1/lists", "customer", 201, lambda i: {"name": "fresh"}, b=201),
    Route("GET", "/api/v1/lists/{list_a}", "customer"),
    Route("GET", "/api/v1/lists/{list_a}/subscribers", "customer"),
    Route("GET", "/api/v1/lists/{list_a}/subscribers/a0@a-tenant.example/history", "customer"),
    Route(
        "POST",
        "/api/v1/lists/{list_a}/subscribers",
        "customer",
        body=lambda i: {"subscribers": [{"email": "new@a-tenant.example"}]},
    ),
    Route("POST", "/api/v1/lists/{list_a}/subscribers/import", "customer", files=_csv()),
    Route("GET", "/api/v1/campaigns", "customer"),
    Route(
        "POST",
        "/api/v1/campaigns",
        "customer",
        201,
        lambda i: {
            "name": "c",
            "list_uid": i["list_a"],
            "subject": "S",
            "from_email": "news@a-tenant.example",
            "text": "T",
        },
        b=422,  # B may not use A's list: "list_uid: no list ..."
    ),
    Route("GET", "/api/v1/campaigns/{campaign_a}", "customer"),
    Route("POST", "/api/v1/campaigns/{draft_a}/launch", "customer"),
    Route("POST", "/api/v1/campaigns/{campaign_a}/pause", "customer"),
    Route(
        "POST",
        "/api/v1/campaigns/{campaign_a}/resume",
        "customer",
        setup=(("POST", "/api/v1/campaigns/{campaign_a}/pause"),),
    ),
    Route("GET", "/api/v1/campaigns/{campaign_a}/messages", "customer"),
    Route(
        "POST",
        "/api/v1/messages",
        "customer",
        202,
        lambda i: {
            "to": "x@a-tenant.example",
            "subject": "s",
            "from_email": "a@a-tenant.example",
            "text": "t",
        },
        b=422,  # B may not send as A's domain: "from_email: ... not a verified sending domain"
    ),
    Route("GET", "/api/v1/messages", "customer"),
    Route("GET", "/api/v1/messages/{message_a}", "customer"),
    Route("GET", "/api/v1/suppressions", "customer"),
    Route(
        "POST", "/api/v1/suppressions", "customer", 201, lambda i: {"email": "n@x.example"}, b=201
    ),
    Route("DELETE", "/api/v1/suppressions/{suppressed_a}", "customer"),
    Route("POST", "/api/v1/suppressions/import", "customer", files=_csv()),
    Route("GET", "/api/v1/suppressions/export", "customer"),
    Route("GET", "/api/v1/admin/events", "admin"),
    Route("GET", "/api/v1/admin/customers/{customer_a}/suppressions", "admin"),
    Route("DELETE", "/api/v1/admin/customers/{customer_a}/suppressions/{suppressed_a}", "admin"),
    Route("GET", "/api/v1/admin/sending-servers/{server_postmark}/webhook", "admin"),
    # Vendors prove themselves by their own schemes, never a bearer token: without the
    # server's webhook password a Postmark event is refused, whoever's token comes with it.
    Route(
        "POST",
        "/api/v1/webhooks/{server_postmark}/postmark",
        "public",
        401,
        lambda i: {"RecordType": "Bounce"},
    ),  # fmt: skip
    Route("GET", "/healthz", "public"),
    Route("GET", "/metrics", "public"),
    Route("GET", "/docs", "public"),
    Route("GET", "/openapi.json", "public"),
]


def expected(route: Route, caller: str) -> int:
    if route.scope == "public":
        return route.ok
    if caller in ("none", "malformed", "revoked"):
        return 401
    if route.scope == "any":
        return route.ok
    if route.scope == "admin":
        return route.ok if caller == "admin" else 403
    if caller == "admin":
        return 403
    if caller == "b":
        if route.b is not None:
            return route.b
        return 404 if "{" in route.path else route.ok
    return route.ok


def test_every_route_is_in_the_matrix(runtime: Runtime) -> None:
    # The OpenAPI document lists every route, however the framework nests its routers.
    paths = create_app(runtime).openapi()["paths"]
    served = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    served |= {("GET", "/docs"), ("GET", "/openapi.json")}
    assert len(served) > 50
    covered = set()
    for route in ROUTES:
        template = route.path
        for name in ("server_smtp", "server_idle", "plan", "plan_spare", "customer_a"):
            template = template.replace("{" + name + "}", "{uid}")
        template = (
            template.replace("{server_postmark}", "{server_uid}")
            .replace("{server_ses}", "{server_uid}")
            .replace("{customer_empty}", "{uid}")
            .replace("{token_a}", "{uid}")
        )
        for name in ("list_a", "campaign_a", "draft_a", "message_a"):
            template = template.replace("{" + name + "}", "{uid}")
        template = template.replace("{suppressed_a}", "{email}")
        template = template.replace("{server_uid}/postmark", "{server_uid}/{vendor}")
        template = template.replace("servers/{server_uid}/webhook", "servers/{uid}/webhook")
        template = template.replace("/a0@a-tenant.example/", "/{email}/")
        template = template.replace("/fresh.example", "/{domain}")
        template = template.replace("/a-tenant.example", "/{domain}")
        template = template.replace("/region-rules/eu", "/region-rules/{region}")
        template = template.replace("/region-rules/us", "/region-rules/{region}")
        covered.add((route.method, template))
    assert served - covered == set(), "routes missing from the matrix"


def _scan(world: World, caller: str, asked: str, text: str) -> list[str]:
    """Secrets anywhere; the other tenant's things, unless the caller itself sent them."""
    leaks = [f"secret {s!r}" for s in ALL_SECRETS if s in text]
    for tenant in ("a", "b"):
        if caller in ("a", "b") and caller != tenant:
            mine = [m for m in world.markers[tenant] if m in text and m not in asked]
            leaks += [f"{tenant}'s {m!r}" for m in mine]
    return leaks


async def _call(world: World, route: Route, caller: str, path: str | None = None) -> Any:
    kwargs: dict[str, Any] = {"headers": world.auth(caller)}
    if route.body is not None:
        kwargs["json"] = route.body(world.ids)
    if route.files is not None:
        kwargs["files"] = route.files
    return await world.client.request(
        route.method, path or route.path.format(**world.ids), **kwargs
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_route_answers_each_caller_as_expected(world: World, route: Route) -> None:
    for method, path in route.setup:
        r = await world.client.request(method, path.format(**world.ids), headers=world.auth("a"))
        assert r.status_code < 300, r.text
    # The authorised caller goes last: it may change what the others would see.
    authorised = "admin" if route.scope == "admin" else "a"
    order = [c for c in CALLERS if c != authorised] + [authorised]
    got: dict[str, int] = {}
    leaks: list[str] = []
    asked = route.path.format(**world.ids) + repr(route.body(world.ids) if route.body else "")
    for caller in order:
        refused = expected(route, caller) >= 400
        before = db_snapshot(world.rt) if refused else None
        r = await _call(world, route, caller)
        got[caller] = r.status_code
        leaks += [f"{caller}: {leak}" for leak in _scan(world, caller, asked, r.text)]
        if refused and r.status_code >= 400:
            assert db_snapshot(world.rt) == before, f"{caller} got {r.status_code} yet changed data"
            if r.headers.get("content-type", "").startswith("application/json"):
                assert r.json()["detail"], r.text
    assert got == {c: expected(route, c) for c in order}
    assert leaks == []
