"""Address checks agree with email-validator, fast path or not; bad addresses change nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from sendpool.content.addresses import normalise_address
from sendpool.errors import InputError
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.errors import FieldError
from sendpool.services.lists.subscribers import add_subscribers, create_list, import_subscribers
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.tables import Message, Subscriber
from tests.support.scenario import apply

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

LOCAL = st.text(alphabet='abcXYZ09.+-_!"é ', min_size=0, max_size=70)
DOMAIN = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.com",
        "ex-ample.co.uk",
        "-bad.com",
        "a..b.com",
        "localhost",
        "x.test",
        "exämple.com",
        "1.2.3.4",
        "[1.2.3.4]",
        "mail.example.com.",
        "b",
        "x.invalid",
    ]
)


def reference(address: str) -> str | None:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=400, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_same_verdict_and_form_as_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    try:
        mine: str | None = normalise_address(address)
    except InputError:
        mine = None
    assert mine == reference(address)


# International addresses: kept as people read them, refused when not valid IDNA ------------

BAD_IDN = ["a@xn--invalid-.example", "a@-bad-.example", "a@xn--zzzzzzzz.example", "a@☃.example"]


def _customer(rt: Runtime) -> tuple[int, str]:
    """The customer acme with one list; returns (customer id, list uid)."""
    apply(rt, {"customers": [{"name": "acme", "sending_domains": ["bücher.example"]}]})

    def make(conn: Connection) -> tuple[int, str]:
        cid = refs.customer_id(conn, "acme")
        return cid, create_list(conn, cid, name="l", now=NOW).uid

    return rt.db.transaction(make)


def _count(rt: Runtime, model: type[Subscriber] | type[Message]) -> int:
    return rt.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(model)).scalar_one()
    )


@pytest.mark.parametrize("bad", BAD_IDN)
def test_an_invalid_idn_is_refused_with_what_is_wrong(bad: str) -> None:
    with pytest.raises(InputError, match=r"invalid email address .*a@"):
        normalise_address(bad)


def test_the_list_keeps_u_labels(runtime: Runtime) -> None:
    cid, uid = _customer(runtime)
    given = [("user@xn--bcher-kva.example", {}), ("jörg@BÜCHER.example", {})]
    runtime.db.transaction(lambda c: add_subscribers(c, cid, uid, subscribers=given, now=NOW))
    emails = runtime.db.transaction(lambda c: c.execute(select(Subscriber.email)).scalars().all())
    assert sorted(emails) == ["jörg@bücher.example", "user@bücher.example"]


@pytest.mark.parametrize("bad", BAD_IDN)
def test_an_invalid_idn_refuses_the_whole_request_and_adds_no_one(
    runtime: Runtime, bad: str
) -> None:
    cid, uid = _customer(runtime)
    given = [("ok@bücher.example", {}), (bad, {})]
    with pytest.raises(FieldError) as caught:
        runtime.db.transaction(lambda c: add_subscribers(c, cid, uid, subscribers=given, now=NOW))
    assert [field for field, _ in caught.value.errors] == ["subscribers.1.email"]
    assert _count(runtime, Subscriber) == 0


def test_a_csv_of_invalid_idns_imports_nothing_and_says_which_lines(runtime: Runtime) -> None:
    cid, uid = _customer(runtime)
    csv = "email\n" + "".join(f"{b}\n" for b in BAD_IDN)
    with pytest.raises(FieldError) as caught:
        runtime.db.transaction(
            lambda c: import_subscribers(c, cid, uid, stream=io.BytesIO(csv.encode()), now=NOW)
        )
    said = " ".join(message for _, message in caught.value.errors)
    assert "nothing was imported" in said and "line 2" in said and "xn--invalid-" in said
    assert _count(runtime, Subscriber) == 0


@pytest.mark.parametrize("bad", BAD_IDN)
def test_a_transactional_message_to_an_invalid_idn_is_refused_and_not_queued(
    runtime: Runtime, bad: str
) -> None:
    cid, _ = _customer(runtime)
    with pytest.raises(InputError, match="invalid email address"):
        runtime.db.transaction(
            lambda c: enqueue_transactional(
                c,
                customer_id=cid,
                to=bad,
                subject="s",
                from_email="n@bücher.example",
                text="t",
                now=NOW,
            )
        )
    assert _count(runtime, Message) == 0


def test_a_transactional_message_is_logged_as_people_read_its_address(runtime: Runtime) -> None:
    cid, _ = _customer(runtime)
    runtime.db.transaction(
        lambda c: enqueue_transactional(
            c,
            customer_id=cid,
            to="user@xn--bcher-kva.example",
            subject="s",
            from_email="news@bücher.example",
            text="t",
            now=NOW,
        )
    )
    logged = runtime.db.transaction(lambda c: c.execute(select(Message.recipient)).scalar_one())
    assert logged == "user@bücher.example"
