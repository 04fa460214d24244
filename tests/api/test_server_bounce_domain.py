"""A server's bounce domain through every face: the pool file, the API and the admin form.

It is one field of the server definition (services/servers/fields.py), so each face
stores it the same way (lowercased, internationalised names as A-labels, blank as
none) and refuses the same bad values, naming the field, with nothing written.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from sendpool.errors import ConfigError
from sendpool.services.pool.file import parse_pool
from sendpool.store.tables import SendingServer
from tests.support.snapshots import db_snapshot
from tests.support.world import World, server_fields

SRV = "/api/v1/admin/sending-servers"
POOL_SERVER = {"name": "relay-a", "type": "smtp", "host": "127.0.0.1", "sending_limit": 10}

GOOD = [
    ("Bounce.Example.COM", "bounce.example.com"),
    ("rücklauf.example.net", "xn--rcklauf-n2a.example.net"),
    ("bounce.example.com.", "bounce.example.com"),  # the root's dot is not part of a mail domain
]
BAD = [
    "not a domain",
    "a_b.example.com",  # underscores: fine for hosts, never in a mail domain
    "localhost",
    "192.0.2.1",
    "[192.0.2.1]",
    "bounce.example.com\r\nX-Injected: 1",
    "x" * 300 + ".example.com",
    "-bad-.example.com",
]


async def admin(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, path, headers=world.auth("admin"), **kwargs)


def stored(world: World, name: str) -> str | None:
    return world.rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.bounce_domain).where(SendingServer.name == name)
        ).scalar_one()
    )


@pytest.mark.parametrize(("given", "kept"), GOOD)
def test_the_pool_file_keeps_the_bounce_domain_in_its_wire_form(given: str, kept: str) -> None:
    pool, _ = parse_pool({"servers": [{**POOL_SERVER, "bounce_domain": given}]}, {})
    assert pool.servers[0].model_dump()["bounce_domain"] == kept


@pytest.mark.parametrize("bad", BAD)
def test_the_pool_file_refuses_a_bad_bounce_domain_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="bounce_domain"):
        parse_pool({"servers": [{**POOL_SERVER, "bounce_domain": bad}]}, {})


async def test_the_api_sets_shows_changes_and_clears_it(world: World) -> None:
    body = {**server_fields("smtp", "bounced"), "bounce_domain": "Rücklauf.Example.NET"}
    r = await admin(world, "POST", SRV, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["bounce_domain"] == "xn--rcklauf-n2a.example.net"
    uid = r.json()["uid"]
    assert (await admin(world, "GET", f"{SRV}/{uid}")).json()["bounce_domain"] == (
        "xn--rcklauf-n2a.example.net"
    )
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_domain": "b.example.org"})
    assert r.status_code == 200, r.text
    assert stored(world, "bounced") == "b.example.org"
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_domain": None})
    assert r.status_code == 200 and r.json()["bounce_domain"] is None
    assert stored(world, "bounced") is None


@pytest.mark.parametrize("bad", [*BAD, 42, ["bounce.example.com"]])
async def test_the_api_refuses_a_bad_bounce_domain_and_writes_nothing(
    world: World, bad: object
) -> None:
    uid = world.ids["server_smtp"]
    before = db_snapshot(world.rt)
    created = await admin(
        world, "POST", SRV, json={**server_fields("smtp", "bad-one"), "bounce_domain": bad}
    )
    patched = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_domain": bad})
    for r in (created, patched):
        assert r.status_code == 422, r.text
        assert "bounce_domain" in r.text
    assert db_snapshot(world.rt) == before
