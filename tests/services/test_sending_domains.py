"""Sending domains: stored in one form, one customer each, and checked on every sender."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from sendpool.errors import ConfigError, NotFoundError
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import run_from_csv
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.operations.audit import list_audit
from sendpool.services.pool.apply import ApplyReport, apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.services.tenancy import sending_domains as sd
from sendpool.services.tenancy.customers import delete_customer
from sendpool.store.tables import MailingList, Message
from tests.support.snapshots import db_snapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def apply(rt: Runtime, data: dict[str, Any]) -> ApplyReport:
    pool, decls = parse_pool(data, {})
    return rt.db.transaction(apply_pool, pool, decls, rt.box)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    apply(runtime, {"customers": [{"name": "acme"}, {"name": "globex"}]})
    return runtime


def add(rt: Runtime, customer: str, domain: str) -> sd.CustomerDomains:
    return rt.db.transaction(sd.add_domain, customer, domain, actor="test", now=NOW)


def held(rt: Runtime, customer: str) -> list[str]:
    return [d.domain for d in rt.db.transaction(sd.customer_domains, customer).domains]


def send(rt: Runtime, customer: str, sender: str) -> str:
    def queue(conn: Any) -> str:
        cid = refs.customer_id(conn, customer)
        return enqueue_transactional(
            conn, customer_id=cid, to="r@example.org", subject="s", from_email=sender,
            text="t", now=NOW,
        )  # fmt: skip

    return rt.db.transaction(queue)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("  example.com ", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("*.Example.com", "*.example.com"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
    ],
)
def test_a_domain_is_stored_lower_case_in_a_label_form(written: str, stored: str) -> None:
    assert sd.normalise_domain(written) == stored


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("example.com\n", "control characters"),
        ("exa\x00mple.com", "control characters"),
        ("a" * 250 + ".com", "at most 253"),
        ("not a domain", "not a domain name"),
        ("exa_mple.com", "not a domain name"),
        ("com", "not a domain name"),  # a top-level domain alone
        ("*.com", "not a domain name"),  # nor a wildcard over one
        ("*", "not a domain name"),
        ("a.*.example.com", "not a domain name"),
        ("news@example.com", "not a domain name"),
        ("example.com.", "not a domain name"),
    ],
)
def test_what_is_not_a_domain_is_refused_naming_the_field(written: str, message: str) -> None:
    with pytest.raises(FieldError, match=message) as caught:
        sd.normalise_domain(written)
    assert caught.value.errors[0][0] == "domain"


def test_add_list_remove_are_audited_and_adding_twice_changes_nothing(rt: Runtime) -> None:
    found = add(rt, "acme", "Example.com")
    assert [(d.domain, d.created_by, d.verified_at) for d in found.domains] == [
        ("example.com", "test", NOW)
    ]
    before = db_snapshot(rt)
    add(rt, "acme", "EXAMPLE.com")
    assert db_snapshot(rt) == before
    add(rt, "acme", "*.example.com")  # the same customer may hold both
    assert held(rt, "acme") == ["*.example.com", "example.com"]
    rt.db.transaction(sd.remove_domain, "acme", "example.com", actor="test", now=NOW)
    assert held(rt, "acme") == ["*.example.com"]
    actions = [
        (a.action, a.detail) for a in rt.db.transaction(list_audit, action="sending_domain.")
    ]
    assert actions == [
        ("sending_domain.remove", {"customer": "acme", "domain": "example.com"}),
        ("sending_domain.add", {"customer": "acme", "domain": "*.example.com"}),
        ("sending_domain.add", {"customer": "acme", "domain": "example.com"}),
    ]


def test_removing_what_is_not_held_or_naming_nobody_is_not_found(rt: Runtime) -> None:
    add(rt, "globex", "globex.example")
    before = db_snapshot(rt)
    with pytest.raises(NotFoundError, match="has no sending domain 'globex.example'"):
        rt.db.transaction(sd.remove_domain, "acme", "globex.example", actor="t", now=NOW)
    with pytest.raises(NotFoundError, match="unknown customer 'nobody'"):
        add(rt, "nobody", "example.org")
    assert db_snapshot(rt) == before


@pytest.mark.parametrize(
    ("acme_has", "globex_asks"),
    [
        ("example.com", "example.com"),
        ("example.com", "EXAMPLE.COM"),
        ("xn--bcher-kva.example", "bücher.example"),
        ("example.com", "*.example.com"),  # a wildcard claims the tree below its base
        ("shop.example.com", "*.example.com"),
        ("*.example.com", "shop.example.com"),
        ("*.example.com", "*.eu.example.com"),
    ],
)
def test_a_domain_belongs_to_one_customer(rt: Runtime, acme_has: str, globex_asks: str) -> None:
    add(rt, "acme", acme_has)
    before = db_snapshot(rt)
    with pytest.raises(ConflictError, match="another customer") as caught:
        add(rt, "globex", globex_asks)
    assert "acme" not in str(caught.value)  # whose it is stays with the admins
    assert db_snapshot(rt) == before


def test_a_subdomain_is_a_domain_of_its_own(rt: Runtime) -> None:
    add(rt, "acme", "example.com")
    add(rt, "globex", "shop.example.com")
    send(rt, "globex", "x@shop.example.com")
    with pytest.raises(FieldError, match="shop.example.com is not a verified"):
        send(rt, "acme", "x@shop.example.com")


@pytest.mark.parametrize(
    ("entry", "sender", "allowed"),
    [
        ("example.com", "News@Example.COM", True),
        ("example.com", "news@example.com", True),
        ("example.com", "news@mail.example.com", False),
        ("example.com", "news@example.org", False),
        ("bücher.example", "x@bücher.example", True),
        ("bücher.example", "x@xn--bcher-kva.example", True),
        ("xn--bcher-kva.example", "x@BÜCHER.example", True),
        ("*.example.com", "x@mail.example.com", True),
        ("*.example.com", "x@a.b.Example.com", True),
        ("*.example.com", "x@example.com", False),
    ],
)
def test_the_sender_check(rt: Runtime, entry: str, sender: str, allowed: bool) -> None:
    add(rt, "acme", entry)
    if allowed:
        send(rt, "acme", sender)
        return
    before = db_snapshot(rt)
    with pytest.raises(FieldError) as caught:
        send(rt, "acme", sender)
    assert caught.value.errors[0][0] == "from_email"
    assert "sendpool customers domains add acme" in str(caught.value)
    assert db_snapshot(rt) == before


def test_a_customer_without_domains_sends_from_none(rt: Runtime) -> None:
    with pytest.raises(FieldError, match=r"news@example.com: example.com is not a verified"):
        send(rt, "acme", "news@example.com")


def test_a_campaign_from_a_csv_as_another_customers_domain_creates_nothing(rt: Runtime) -> None:
    add(rt, "globex", "globex.example")
    before = db_snapshot(rt)
    with pytest.raises(FieldError, match="globex.example is not a verified") as caught:
        run_from_csv(
            engine=rt.db.engine,
            customer="acme",
            csv=io.StringIO("email\nr@example.org\n"),
            draft=CampaignDraft("c", "s", "news@globex.example", text_body="t"),
            public_url="http://x",
            now=NOW,
        )
    assert caught.value.errors[0][0] == "from_email"
    assert db_snapshot(rt) == before
    with rt.db.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(MailingList)).scalar_one() == 0
        assert c.execute(select(func.count()).select_from(Message)).scalar_one() == 0


# The pool file: a customer that lists sending_domains has exactly those.

POOL: dict[str, Any] = {
    "customers": [
        {"name": "acme", "sending_domains": ["Example.com", "bücher.example", "example.com"]},
        {"name": "globex", "sending_domains": ["*.globex.example"]},
    ]
}


def test_a_pool_file_with_sending_domains_applied_twice_changes_nothing(rt: Runtime) -> None:
    apply(rt, POOL)
    assert held(rt, "acme") == ["example.com", "xn--bcher-kva.example"]
    assert held(rt, "globex") == ["*.globex.example"]
    before = db_snapshot(rt)
    again = apply(rt, POOL)
    assert not again.changed
    assert db_snapshot(rt) == before


def test_the_pool_file_is_the_truth_for_the_customers_that_list_domains(rt: Runtime) -> None:
    apply(rt, POOL)
    add(rt, "acme", "added-by-hand.example")
    # globex does not list sending_domains: it keeps its own.
    report = apply(rt, {"customers": [{"name": "acme", "sending_domains": ["example.com"]}]})
    assert held(rt, "acme") == ["example.com"]
    assert held(rt, "globex") == ["*.globex.example"]
    assert report.updated == ["customer acme"]
    # An empty list takes every domain away.
    apply(rt, {"customers": [{"name": "acme", "sending_domains": []}]})
    assert held(rt, "acme") == []


def test_a_domain_moves_between_customers_of_one_file(rt: Runtime) -> None:
    apply(rt, POOL)
    apply(
        rt,
        {
            "customers": [
                {"name": "acme", "sending_domains": []},
                {"name": "globex", "sending_domains": ["example.com"]},
            ]
        },
    )
    assert held(rt, "acme") == [] and held(rt, "globex") == ["example.com"]


@pytest.mark.parametrize(
    ("customers", "message"),
    [
        (
            [
                {"name": "acme", "sending_domains": ["example.com"]},
                {"name": "globex", "sending_domains": ["EXAMPLE.com"]},
            ],
            "customers 'acme' and 'globex' both claim example.com",
        ),
        (
            [
                {"name": "acme", "sending_domains": ["shop.example.com"]},
                {"name": "globex", "sending_domains": ["*.example.com"]},
            ],
            r"both claim shop.example.com \(as \*.example.com\)",
        ),
        ([{"name": "acme", "sending_domains": ["not a domain"]}], "not a domain name"),
        ([{"name": "acme", "sending_domains": "example.com"}], "sending_domains"),
        # Held by a customer the file does not give domains to.
        ([{"name": "acme", "sending_domains": ["held.example"]}], "another customer"),
    ],
)
def test_a_pool_file_with_clashing_domains_writes_nothing(
    rt: Runtime, customers: list[dict[str, Any]], message: str
) -> None:
    add(rt, "globex", "held.example")
    before = db_snapshot(rt)
    with pytest.raises(ConfigError, match=message):
        apply(rt, {"servers": [], "customers": [*customers, {"name": "initech"}]})
    assert db_snapshot(rt) == before


def test_deleting_a_customer_frees_its_domains(rt: Runtime) -> None:
    add(rt, "acme", "example.com")
    rt.db.transaction(delete_customer, "acme", actor="test", now=NOW)
    add(rt, "globex", "example.com")
    assert held(rt, "globex") == ["example.com"]
