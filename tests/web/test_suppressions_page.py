"""/admin/suppressions: a customer's suppressions listed, searched, paged and lifted with CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Connection, select

from sendpool.services import refs
from sendpool.services.lists.unsubscribe import unsubscribe
from sendpool.store.tables import AuditEntry, MailingList, Subscriber, Suppression, table
from tests.support.admin_world import Web
from tests.support.snapshots import db_snapshot

PAGE = "/admin/suppressions"
_ROW = re.compile(r'<tr data-email="([^"]+)">')
_FLASH = re.compile(r'data-test="flash">\s*<strong>([^<]*)</strong>')
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def emails(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return _ROW.findall(response.text)


def flash(response: httpx.Response) -> str:
    found = _FLASH.search(response.text)
    return found.group(1) if found else ""


def suppress_many(web: Web, customer: str, n: int) -> None:
    """``n`` suppressions, ``user{i}@many.example`` one minute apart (the last is newest)."""

    def write(conn: Connection) -> None:
        cid = refs.customer_id(conn, customer)
        conn.execute(
            table(Suppression).insert(),
            [
                {
                    "customer_id": cid,
                    "email": f"user{i}@many.example",
                    "reason": f"reason {i}",
                    "kind": "manual",
                    "created_at": T0 + timedelta(minutes=i),
                }
                for i in range(n)
            ],
        )

    web.rt.db.transaction(write)


def suppressed(web: Web, customer: str) -> set[str]:
    def read(conn: Connection) -> set[str]:
        cid = refs.customer_id(conn, customer)
        rows = conn.execute(select(Suppression.email).where(Suppression.customer_id == cid))
        return set(rows.scalars())

    return web.rt.db.transaction(read)


async def test_signed_out_is_sent_to_sign_in(web: Web) -> None:
    response = await web.client.get(f"{PAGE}?customer=tenant-a")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
    assert "bounced@" not in response.text
    before = db_snapshot(web.rt)
    response = await web.client.post(
        f"{PAGE}/remove", data={"customer": "tenant-a", "email": web.ids["suppressed_a"]}
    )
    assert response.status_code == 303 and "/admin/login" in response.headers["location"]
    assert db_snapshot(web.rt) == before


async def test_the_page_lists_one_customers_suppressions_only(admin: Web) -> None:
    chooser = await admin.client.get(PAGE)
    assert chooser.status_code == 200 and "Choose a customer" in chooser.text
    assert 'href="/admin/suppressions" class="active"' in chooser.text  # in the nav
    response = await admin.client.get(f"{PAGE}?customer=tenant-a")
    assert emails(response) == [admin.ids["suppressed_a"]]
    assert "hard bounce" in response.text and "550 5.1.1" in response.text
    assert " style=" not in response.text and "<style" not in response.text
    # By uid too, and another customer sees its own.
    by_uid = await admin.client.get(f"{PAGE}?customer={admin.ids['customer_b']}")
    assert emails(by_uid) == [admin.ids["suppressed_b"]]
    empty = await admin.client.get(f"{PAGE}?customer=tenant-empty")
    assert emails(empty) == [] and "has no suppressed addresses" in empty.text


async def test_an_unsubscribed_address_is_listed_as_such(admin: Web) -> None:
    def unsubscribe_first(conn: Connection) -> str:
        cid = refs.customer_id(conn, "tenant-a")
        sid, lid, email = conn.execute(
            select(Subscriber.id, Subscriber.list_id, Subscriber.email)
            .join(MailingList, MailingList.id == Subscriber.list_id)
            .where(MailingList.customer_id == cid)
            .order_by(Subscriber.id)
        ).first()  # type: ignore[misc]
        unsubscribe(conn, subscriber_id=sid, list_id=lid, source="page", now=datetime.now(UTC))
        return str(email)

    email = admin.rt.db.transaction(unsubscribe_first)
    response = await admin.client.get(f"{PAGE}?customer=tenant-a")
    assert emails(response) == [email, admin.ids["suppressed_a"]]  # newest first
    assert "unsubscribed via page" in response.text and ">unsubscribe</span>" in response.text


async def test_pages_of_100_newest_first(admin: Web) -> None:
    suppress_many(admin, "tenant-empty", 205)
    first = await admin.client.get(f"{PAGE}?customer=tenant-empty")
    rows = emails(first)
    assert rows == [f"user{i}@many.example" for i in range(204, 104, -1)]
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = await admin.client.get(f"{PAGE}?customer=tenant-empty&page=2")
    assert emails(second) == [f"user{i}@many.example" for i in range(104, 4, -1)]
    assert 'rel="next"' in second.text and 'rel="prev"' in second.text
    third = await admin.client.get(f"{PAGE}?customer=tenant-empty&page=3")
    assert emails(third) == [f"user{i}@many.example" for i in range(4, -1, -1)]
    assert 'rel="next"' not in third.text
    assert "rows 201–205" in third.text
    beyond = await admin.client.get(f"{PAGE}?customer=tenant-empty&page=9")
    assert emails(beyond) == [] and "No rows on this page" in beyond.text


async def test_search_is_a_case_insensitive_substring_and_pages_keep_it(admin: Web) -> None:
    suppress_many(admin, "tenant-empty", 250)
    response = await admin.client.get(f"{PAGE}?customer=tenant-empty&q=USER24")
    assert emails(response) == [f"user{i}@many.example" for i in (249, 248, 247, 246, 245, 244,
                                                                   243, 242, 241, 240, 24)]  # fmt: skip
    assert 'value="USER24"' in response.text
    many = await admin.client.get(f"{PAGE}?customer=tenant-empty&q=MANY.example")
    assert len(emails(many)) == 100
    assert "q=MANY.example&amp;page=2" in many.text  # the next page keeps the search
    # LIKE's wildcards are letters to look for, not patterns.
    for wildcard in ("%", "_", "user_1"):
        found = await admin.client.get(f"{PAGE}?customer=tenant-empty&q={wildcard}")
        assert emails(found) == [], wildcard
    missing = await admin.client.get(f"{PAGE}?customer=tenant-empty&q=nobody")
    assert "No suppressed address contains" in missing.text


async def test_remove_with_csrf_lifts_it_audited_and_only_for_that_customer(admin: Web) -> None:
    suppress_many(admin, "tenant-a", 3)
    suppress_many(admin, "tenant-b", 3)  # the same addresses at another customer
    response = await admin.post(
        f"{PAGE}/remove",
        {"customer": admin.ids["customer_a"], "email": "user1@many.example", "q": "user", "page": "1"},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}?customer=tenant-a&q=user"
    shown = await admin.client.get(response.headers["location"])
    assert flash(shown) == "user1@many.example removed"
    assert emails(shown) == ["user2@many.example", "user0@many.example"]
    assert "user1@many.example" not in suppressed(admin, "tenant-a")
    assert "user1@many.example" in suppressed(admin, "tenant-b")

    def audit(conn: Connection) -> list[tuple[str, str, dict[str, object]]]:
        rows = conn.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail))
        return [(a, b, c) for a, b, c in rows if b == "suppression.remove"]

    [(actor, _, detail)] = admin.rt.db.transaction(audit)
    assert actor == "admin:ops@example.com" and detail["email"] == "user1@many.example"


async def test_remove_without_or_with_a_wrong_csrf_token_is_refused(admin: Web) -> None:
    before = db_snapshot(admin.rt)
    data = {"customer": "tenant-a", "email": admin.ids["suppressed_a"]}
    for token in (None, "", "not-this-sessions-token"):
        form = data if token is None else {**data, "csrf_token": token}
        response = await admin.client.post(f"{PAGE}/remove", data=form)
        assert response.status_code == 403 and "Form refused" in response.text
    assert db_snapshot(admin.rt) == before


async def test_unknown_customer_is_a_404_page(admin: Web) -> None:
    response = await admin.client.get(f"{PAGE}?customer=no-such-customer")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "unknown customer" in response.text
    before = db_snapshot(admin.rt)
    for customer in ("no-such-customer", ""):
        refused = await admin.post(
            f"{PAGE}/remove", {"customer": customer, "email": admin.ids["suppressed_a"]}
        )
        assert refused.status_code == 404
    assert db_snapshot(admin.rt) == before


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(admin: Web) -> None:
    for query in ("page=0", "page=abc", "page=100001", "q=" + "x" * 321):
        response = await admin.client.get(f"{PAGE}?customer=tenant-a&{query}")
        assert response.status_code == 400, query
        assert "Bad request" in response.text
    before = db_snapshot(admin.rt)
    for email, why in (
        ("nobody@a-tenant.example", "is not suppressed"),
        ("", "No address was named"),
        ("x" * 400 + "@example.com", "No address was named"),
    ):
        response = await admin.post(f"{PAGE}/remove", {"customer": "tenant-a", "email": email})
        assert response.status_code == 303
        shown = await admin.client.get(response.headers["location"])
        assert flash(shown) == "Not removed" and why in shown.text
    assert db_snapshot(admin.rt) == before


async def test_what_a_reason_says_is_shown_as_text(admin: Web) -> None:
    def write(conn: Connection) -> None:
        conn.execute(
            table(Suppression)
            .insert()
            .values(
                customer_id=refs.customer_id(conn, "tenant-a"),
                email="x@a-tenant.example",
                reason='<script>alert("r")</script>',
                kind="complaint",
            )
        )

    admin.rt.db.transaction(write)
    response = await admin.client.get(f"{PAGE}?customer=tenant-a")
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert" in response.text
