"""/api/v1/suppressions: a customer's own list, one address at a time or as CSV, and nothing else's."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from sendpool.services import refs
from sendpool.store.tables import AuditEntry, Suppression, table
from tests.support.snapshots import db_snapshot
from tests.support.world import World

S = "/api/v1/suppressions"
# Each tenant of the world starts with one suppression of its own.
WORLD = {"a": "bounced@a-tenant.example", "b": "bounced@b-tenant.example"}


def _seed(world: World, who: str, email: str, kind: str, reason: str, age_min: int = 0) -> None:
    def insert(conn: Connection) -> None:
        customer = refs.customer_id(conn, f"tenant-{who}")
        at = datetime.now(UTC) - timedelta(minutes=age_min)
        conn.execute(
            table(Suppression)
            .insert()
            .values(customer_id=customer, email=email, reason=reason, kind=kind, created_at=at)
        )

    world.rt.db.transaction(insert)


def _stored(world: World, who: str) -> dict[str, tuple[str | None, str]]:
    def read(conn: Connection) -> dict[str, tuple[str | None, str]]:
        customer = refs.customer_id(conn, f"tenant-{who}")
        rows = conn.execute(
            select(Suppression.email, Suppression.kind, Suppression.reason).where(
                Suppression.customer_id == customer
            )
        )
        return {e: (k, r) for e, k, r in rows if e != WORLD[who]}

    return world.rt.db.transaction(read)


def _emails(body: dict[str, Any]) -> list[str]:
    return [i["email"] for i in body["items"] if i["email"] not in WORLD.values()]


def _csv_file(text: str | bytes) -> dict[str, tuple[str, bytes, str]]:
    data = text.encode() if isinstance(text, str) else text
    return {"file": ("list.csv", data, "text/csv")}


async def test_list_is_the_customers_own_newest_first_filtered_by_kind(world: World) -> None:
    _seed(world, "a", "gone@example.com", "hard_bounce", "550 5.1.1 user unknown", age_min=10)
    _seed(world, "a", "angry@example.com", "complaint", "complaint: abuse", age_min=1)
    _seed(world, "b", "b-only@example.com", "hard_bounce", "550 5.1.1")
    r = await world.client.get(S, headers=world.auth("a"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert _emails(body) == ["angry@example.com", "gone@example.com"]
    gone = next(i for i in body["items"] if i["email"] == "gone@example.com")
    assert (gone["kind"], gone["reason"]) == ("hard_bounce", "550 5.1.1 user unknown")
    assert body["next_offset"] is None
    r = await world.client.get(S, params={"kind": "complaint"}, headers=world.auth("a"))
    assert _emails(r.json()) == ["angry@example.com"]
    r = await world.client.get(S, params={"limit": 1}, headers=world.auth("a"))
    assert r.json()["next_offset"] == 1
    r = await world.client.get(S, headers=world.auth("b"))
    assert _emails(r.json()) == ["b-only@example.com"]
    assert WORLD["a"] not in r.text


async def test_unknown_kind_filter_is_refused_naming_the_field(world: World) -> None:
    r = await world.client.get(S, params={"kind": "bogus"}, headers=world.auth("a"))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["kind"]


async def test_add_normalises_then_adding_again_keeps_the_first(world: World) -> None:
    r = await world.client.post(
        S, json={"email": " Someone@EXAMPLE.com ", "reason": "asked by phone"},
        headers=world.auth("a"),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "Someone@example.com"
    assert r.json()["kind"] == "manual"
    again = await world.client.post(
        S, json={"email": "Someone@example.com", "reason": "other"}, headers=world.auth("a")
    )
    assert again.status_code == 200
    assert again.json()["reason"] == "asked by phone"
    assert _stored(world, "a") == {"Someone@example.com": ("manual", "asked by phone")}
    assert _stored(world, "b") == {}
    actions = world.rt.db.transaction(
        lambda c: c.execute(select(AuditEntry.action, AuditEntry.actor)).all()
    )
    assert ("suppression.add", "token:a-key") in actions


async def test_bad_addresses_and_hostile_reasons_are_refused_and_change_nothing(
    world: World,
) -> None:
    before = db_snapshot(world.rt)
    cases = [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@-bad-.example"}, "email"),
        ({"email": "x@example.com\r\nBcc: all@example.com"}, "email"),
        ({"email": "x@example.com", "reason": "ok\r\nX-Injected: yes"}, "reason"),
        ({"email": "x@example.com", "reason": "r" * 1001}, "reason"),
        ({"email": "x@example.com", "kind": "hard_bounce"}, "kind"),
        ({"email": 5}, "email"),
    ]
    for body, field in cases:
        r = await world.client.post(S, json=body, headers=world.auth("a"))
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (body, r.text)
    assert db_snapshot(world.rt) == before


async def test_remove_lifts_own_and_another_tenants_is_not_found_and_unchanged(
    world: World,
) -> None:
    _seed(world, "a", "gone@example.com", "hard_bounce", "550 5.1.1")
    _seed(world, "b", "theirs@example.com", "complaint", "abuse")
    before = db_snapshot(world.rt)
    for path in (f"{S}/theirs@example.com", f"{S}/nobody@example.com", f"{S}/gone@example.com"):
        r = await world.client.delete(path, headers=world.auth("b" if "gone" in path else "a"))
        assert r.status_code == 404, r.text
        assert "not suppressed" in r.json()["detail"]
    assert db_snapshot(world.rt) == before
    r = await world.client.delete(f"{S}/gone@EXAMPLE.com", headers=world.auth("a"))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "gone@example.com"
    assert _stored(world, "a") == {}
    assert _stored(world, "b") == {"theirs@example.com": ("complaint", "abuse")}


async def test_admin_reaches_a_customers_suppressions_by_the_admin_prefix(world: World) -> None:
    _seed(world, "b", "theirs@example.com", "complaint", "abuse")
    path = f"/api/v1/admin/customers/{world.ids['customer_b']}/suppressions"
    r = await world.client.get(path, headers=world.auth("admin"))
    assert _emails(r.json()) == ["theirs@example.com"]
    assert (await world.client.get(S, headers=world.auth("admin"))).status_code == 403
    r = await world.client.delete(path + "/theirs@example.com", headers=world.auth("admin"))
    assert r.status_code == 200
    assert _stored(world, "b") == {}
    missing = "/api/v1/admin/customers/nope/suppressions"
    assert (await world.client.get(missing, headers=world.auth("admin"))).status_code == 404


async def test_import_adds_good_rows_and_reports_bad_ones_by_line(world: World) -> None:
    _seed(world, "a", "known@example.com", "hard_bounce", "550 5.1.1")
    text = (
        "email,reason\r\n"
        "one@example.com,moved away\r\n"
        "not-an-address,typo\r\n"
        "known@example.com,imported again\r\n"
        '"two@example.com","line one\nline two"\r\n'
        "three@example.com,\r\n"
        "one@example.com,duplicate in the file\r\n"
    )
    r = await world.client.post(f"{S}/import", files=_csv_file(text), headers=world.auth("a"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["added"], body["existing"], body["skipped"]) == (4, 2, 2, 2)
    assert [e["line"] for e in body["errors"]] == [3, 5]
    assert "header injection" in body["errors"][1]["message"]
    assert _stored(world, "a") == {
        "known@example.com": ("hard_bounce", "550 5.1.1"),
        "one@example.com": ("imported", "moved away"),
        "three@example.com": ("imported", "imported"),
    }
    assert _stored(world, "b") == {}


async def test_malformed_or_oversized_imports_write_nothing(world: World) -> None:
    before = db_snapshot(world.rt)
    bad = {
        "no email column": "name,reason\nx,y\n",
        "not utf-8": b"email,reason\n\xff\xfe@example.com,x\n",
        "broken quoting": 'email,reason\none@example.com,"unclosed\n',
        "only bad rows": "email,reason\nnope,x\nalso-nope,y\n",
        "empty": "",
    }
    for label, text in bad.items():
        r = await world.client.post(f"{S}/import", files=_csv_file(text), headers=world.auth("a"))
        assert r.status_code == 422, (label, r.text)
        assert r.json()["errors"][0]["field"] == "file", (label, r.text)
    limit = world.rt.settings.api_max_upload_bytes
    huge = b"email,reason\n" + b"x@example.com,y\n" * (limit // 16 + 1)
    r = await world.client.post(f"{S}/import", files=_csv_file(huge), headers=world.auth("a"))
    assert r.status_code == 413
    assert db_snapshot(world.rt) == before


async def test_export_is_csv_of_own_rows_that_imports_back(world: World) -> None:
    _seed(world, "a", "gone@example.com", "hard_bounce", "550 5.1.1 user unknown")
    _seed(world, "a", "calc@example.com", "manual", '=HYPERLINK("http://x")')
    _seed(world, "b", "theirs@example.com", "complaint", "abuse")
    r = await world.client.get(f"{S}/export", headers=world.auth("a"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows == [
        ["email", "reason"],
        [WORLD["a"], "550 5.1.1"],
        ["calc@example.com", '\'=HYPERLINK("http://x")'],
        ["gone@example.com", "550 5.1.1 user unknown"],
    ]
    back = await world.client.post(f"{S}/import", files=_csv_file(r.text), headers=world.auth("b"))
    assert back.json()["added"] == 3
    assert set(_stored(world, "b")) == {
        "theirs@example.com",
        "calc@example.com",
        "gone@example.com",
        WORLD["a"],
    }
