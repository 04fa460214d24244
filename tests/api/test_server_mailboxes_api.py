"""A server's bounce and FBL mailboxes through the admin API: set, merged, cleared, never shown."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from sendpool.store.tables import AuditEntry, SendingServer
from tests.support.snapshots import db_snapshot
from tests.support.world import ALL_SECRETS, World, server_fields

SRV = "/api/v1/admin/sending-servers"
MAILBOX_SECRET = "SECRET-mailbox-pass-8d21"
BOUNCES = {
    "enabled": True,
    "protocol": "imap",
    "host": "imap.example.com",
    "port": 993,
    "encryption": "tls",
    "username": "bounces",
    "password": MAILBOX_SECRET,
}


async def admin(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, path, headers=world.auth("admin"), **kwargs)


def stored(world: World, uid: str) -> tuple[Any, Any]:
    with world.rt.db.engine.connect() as conn:
        row = conn.execute(
            select(SendingServer.bounce_handler, SendingServer.fbl_handler).where(
                SendingServer.uid == uid
            )
        ).one()
    return row[0], row[1]


def handler_audits(world: World) -> list[Any]:
    with world.rt.db.engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry.detail).where(AuditEntry.action == "server.handlers")
            ).scalars()
        )


async def test_a_server_shows_its_mailboxes_without_their_passwords(world: World) -> None:
    body = (await admin(world, "GET", f"{SRV}/{world.ids['server_ses']}")).json()
    for h in ("bounce_handler", "fbl_handler"):
        assert body[h] == {
            "enabled": False,
            "protocol": "imap",
            "host": None,
            "port": None,
            "encryption": "tls",
            "username": None,
            "mailbox": "INBOX",
            "password_set": False,
        }


async def test_patch_sets_a_mailbox_and_seals_its_password(world: World) -> None:
    uid = world.ids["server_smtp"]
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": BOUNCES})
    assert r.status_code == 200, r.text
    assert MAILBOX_SECRET not in r.text
    shown = r.json()["bounce_handler"]
    assert shown["host"] == "imap.example.com" and shown["port"] == 993
    assert shown["password_set"] is True and "password" not in shown
    assert r.json()["fbl_handler"]["password_set"] is False
    bounce, fbl = stored(world, uid)
    assert fbl is None and MAILBOX_SECRET not in str(bounce)
    assert world.rt.box.open(bounce["password_sealed"]) == {"password": MAILBOX_SECRET}
    listed = await admin(world, "GET", SRV)
    assert MAILBOX_SECRET not in listed.text
    assert [a["changes"] for a in handler_audits(world)] == [["bounce_handler"]]
    assert all(MAILBOX_SECRET not in str(a) for a in handler_audits(world))


async def test_a_partial_change_keeps_the_rest_and_the_password(world: World) -> None:
    uid = world.ids["server_smtp"]
    await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": BOUNCES})
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": {"mailbox": "Bounces"}})
    assert r.status_code == 200, r.text
    shown = r.json()["bounce_handler"]
    assert shown["mailbox"] == "Bounces" and shown["host"] == "imap.example.com"
    assert shown["password_set"] is True
    assert world.rt.box.open(stored(world, uid)[0]["password_sealed"]) == {
        "password": MAILBOX_SECRET
    }


async def test_the_same_change_twice_writes_nothing_the_second_time(world: World) -> None:
    uid = world.ids["server_smtp"]
    await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": BOUNCES})
    before = db_snapshot(world.rt)
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": BOUNCES})
    assert r.status_code == 200
    assert db_snapshot(world.rt) == before  # the password sealed again is still the same one


async def test_a_password_is_cleared_with_null_and_a_mailbox_removed_with_null(
    world: World,
) -> None:
    uid = world.ids["server_smtp"]
    await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": BOUNCES})
    off = {"enabled": False, "password": None}
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": off})
    assert r.status_code == 200, r.text
    assert r.json()["bounce_handler"]["password_set"] is False
    assert r.json()["bounce_handler"]["host"] == "imap.example.com"
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": None})
    assert r.status_code == 200, r.text
    assert r.json()["bounce_handler"]["host"] is None
    assert stored(world, uid)[0] is None


async def test_a_new_server_may_come_with_its_mailboxes(world: World) -> None:
    fbl = {**BOUNCES, "protocol": "pop3", "port": 995, "username": "fbl"}
    body = {**server_fields("postmark", "with-fbl"), "fbl_handler": fbl}
    r = await admin(world, "POST", SRV, json=body)
    assert r.status_code == 201, r.text
    assert MAILBOX_SECRET not in r.text and not any(s in r.text for s in ALL_SECRETS)
    shown = r.json()["fbl_handler"]
    assert shown["protocol"] == "pop3" and shown["password_set"] is True
    assert r.json()["bounce_handler"]["password_set"] is False
    _, stored_fbl = stored(world, r.json()["uid"])
    assert world.rt.box.open(stored_fbl["password_sealed"]) == {"password": MAILBOX_SECRET}


BIG = "x" * 5000
# (label, the mailbox change, the field the answer must name)
BAD: list[tuple[str, Any, str]] = [
    ("string for port", {"port": "993"}, "bounce_handler.port"),
    ("port out of range", {"port": 70000}, "bounce_handler.port"),
    ("string for enabled", {"enabled": "yes"}, "bounce_handler.enabled"),
    ("unknown protocol", {"protocol": "smtp"}, "bounce_handler.protocol"),
    ("unknown encryption", {"encryption": "ssl"}, "bounce_handler.encryption"),
    ("null protocol", {"protocol": None}, "bounce_handler.protocol"),
    ("unknown key", {"folder": "INBOX"}, "bounce_handler.folder"),
    ("oversized host", {"host": "h" * 300}, "bounce_handler.host"),
    ("host with a space", {"host": "imap example.com"}, "bounce_handler.host"),
    ("oversized user", {"username": "u" * 400}, "bounce_handler.username"),
    ("oversized mailbox", {"mailbox": "m" * 201}, "bounce_handler.mailbox"),
    ("oversized password", {"password": BIG}, "bounce_handler.password"),
    ("empty password", {"password": ""}, "bounce_handler.password"),
    ("number for password", {"password": 1234}, "bounce_handler.password"),
    ("enabled with nothing", {"enabled": True}, "bounce_handler.host"),
    ("enabled, no password", {**BOUNCES, "password": None}, "bounce_handler.password"),
    ("not an object", "imap.example.com", "bounce_handler"),
    ("a list", [BOUNCES], "bounce_handler"),
]


@pytest.mark.parametrize(("label", "change", "field"), BAD, ids=[b[0] for b in BAD])
async def test_bad_mailbox_input_is_refused_and_changes_nothing(
    world: World, label: str, change: Any, field: str
) -> None:
    uid = world.ids["server_smtp"]
    before = db_snapshot(world.rt)
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"bounce_handler": change})
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert BIG not in r.text
    created = await admin(
        world, "POST", SRV, json={**server_fields("smtp", "new-1"), "bounce_handler": change}
    )
    assert created.status_code == 422, created.text
    assert field in [e["field"] for e in created.json()["errors"]], created.json()
    assert db_snapshot(world.rt) == before
