"""Sending domains over the API: a customer sends only as its own domains; admins manage them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.snapshots import db_snapshot
from tests.support.world import World

API = "/api/v1"


def domains_of(world: World, who: str) -> str:
    return f"{API}/admin/customers/{world.ids[f'customer_{who}']}/sending-domains"


async def call(world: World, who: str, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, path, headers=world.auth(who), **kwargs)


def mail(sender: str) -> dict[str, Any]:
    return {"to": "someone@example.org", "subject": "Hi", "from_email": sender, "text": "Hello"}


async def test_a_customer_sending_as_another_customers_domain_is_refused(world: World) -> None:
    before = db_snapshot(world.rt)
    r = await call(world, "a", "POST", f"{API}/messages", json=mail("news@b-tenant.example"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["from_email"]
    assert "b-tenant.example is not a verified sending domain of this customer" in r.text
    assert "sendpool customers domains add tenant-a b-tenant.example" in r.text
    assert db_snapshot(world.rt) == before  # nothing queued


async def test_a_customer_sends_as_its_own_domain(world: World) -> None:
    r = await call(world, "a", "POST", f"{API}/messages", json=mail("News@A-Tenant.example"))
    assert r.status_code == 202, r.text


async def test_a_campaign_as_another_customers_domain_is_refused(world: World) -> None:
    draft = {
        "name": "Spoof",
        "list_uid": world.ids["list_a"],
        "subject": "Hi",
        "from_email": "news@b-tenant.example",
        "text": "Hello",
    }
    before = db_snapshot(world.rt)
    r = await call(world, "a", "POST", f"{API}/campaigns", json=draft)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["from_email"]
    assert db_snapshot(world.rt) == before


async def test_an_admin_adds_lists_and_removes_a_domain(world: World) -> None:
    path = domains_of(world, "a")
    put = await call(world, "admin", "PUT", f"{path}/Bücher.Example")
    assert put.status_code == 200, put.text
    assert [d["domain"] for d in put.json()["domains"]] == [
        "a-tenant.example",
        "xn--bcher-kva.example",
    ]
    again = await call(world, "admin", "PUT", f"{path}/xn--bcher-kva.example")
    assert again.json() == put.json()  # the same domain however it is written
    for sender in ("x@bücher.example", "x@XN--BCHER-KVA.example"):
        r = await call(world, "a", "POST", f"{API}/messages", json=mail(sender))
        assert r.status_code == 202, r.text
    listed = await call(world, "admin", "GET", path)
    assert listed.json() == put.json()
    assert listed.json()["customer"]["name"] == "tenant-a"
    gone = await call(world, "admin", "DELETE", f"{path}/bücher.example")
    assert gone.status_code == 200
    assert [d["domain"] for d in gone.json()["domains"]] == ["a-tenant.example"]
    r = await call(world, "a", "POST", f"{API}/messages", json=mail("x@bücher.example"))
    assert r.status_code == 422
    audit = await call(world, "admin", "GET", f"{API}/admin/audit-log?action=sending_domain.")
    assert [e["action"] for e in audit.json()][:2] == [
        "sending_domain.remove",
        "sending_domain.add",
    ]


async def test_a_customer_sees_its_own_domains_only(world: World) -> None:
    for who in ("a", "b"):
        r = await call(world, who, "GET", f"{API}/sending-domains")
        assert r.status_code == 200
        assert [d["domain"] for d in r.json()["domains"]] == [f"{who}-tenant.example"]
        assert "created_by" not in r.text  # who in the operator's team added it is not theirs
    r = await call(world, "a", "GET", domains_of(world, "a"))
    assert r.status_code == 403


# fmt: off
BAD = [
    ("not a domain", "PUT", "a", "/not%20a%20domain", 422),
    ("underscore", "PUT", "a", "/exa_mple.com", 422),
    ("an address", "PUT", "a", "/news@example.com", 422),
    ("too long for the path", "PUT", "a", "/" + "a" * 300 + ".com", 422),
    ("too long a domain", "PUT", "a", "/" + ".".join(["a" * 63] * 3 + ["d" * 58]) + ".com", 422),
    ("line break", "PUT", "a", "/example.com%0A", 422),
    ("nul", "PUT", "a", "/exa%00mple.com", 422),
    ("tab", "PUT", "a", "/exa%09mple.com", 422),
    ("wildcard over a tld", "PUT", "a", "/*.com", 422),
    ("held by another customer", "PUT", "a", "/b-tenant.example", 409),
    ("not held", "DELETE", "a", "/b-tenant.example", 404),
    ("bad domain to delete", "DELETE", "a", "/exa%0Ample.com", 422),
]
# fmt: on


@pytest.mark.parametrize(("label", "method", "who", "tail", "status"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_refused_and_changes_nothing(
    world: World, label: str, method: str, who: str, tail: str, status: int
) -> None:
    before = db_snapshot(world.rt)
    r = await call(world, "admin", method, domains_of(world, who) + tail)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    if status == 422 and "path" not in label:
        assert [e["field"] for e in r.json()["errors"]] == ["domain"], r.text
    assert db_snapshot(world.rt) == before


async def test_a_wildcard_that_would_cover_another_customers_domain_is_a_clash(
    world: World,
) -> None:
    before = db_snapshot(world.rt)
    # The wildcard would claim every name under b-tenant.example, which is B's.
    r = await call(world, "admin", "PUT", domains_of(world, "a") + "/*.b-tenant.example")
    assert r.status_code == 409, r.text
    assert "tenant-b" not in r.text
    assert db_snapshot(world.rt) == before


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("admin", f"{API}/admin/customers/no-such-customer/sending-domains/example.org", 404),
        ("a", "{b}/example.org", 403),  # a customer token never reaches the admin routes
        ("b", "{b}/example.org", 403),
    ],
)
async def test_someone_elses_or_no_customer_is_refused(
    world: World, who: str, path: str, status: int
) -> None:
    before = db_snapshot(world.rt)
    r = await call(world, who, "PUT", path.format(b=domains_of(world, "b")))
    assert r.status_code == status, r.text
    assert db_snapshot(world.rt) == before
