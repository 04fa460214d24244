"""List-Unsubscribe as recipients get it: a signed /u/ URL for the subscriber and list, over SMTP."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from sendpool.content.render import CampaignTemplate
from sendpool.core.unsubscribe import read_unsubscribe_token
from sendpool.runtime import Runtime
from sendpool.secretbox import RETURN_PATH_PURPOSE, UNSUBSCRIBE_PURPOSE
from sendpool.services.errors import FieldError
from sendpool.services.messages.transactional import Transactional, send_transactional
from sendpool.sinks import SmtpSink
from sendpool.store.tables import Customer, MailingList, Subscriber
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks

PUBLIC = "https://mail.example.com"
URL = re.compile(r"^<https://mail\.example\.com/u/([a-z2-7]+)>")
TEXT = "Hi {{ first_name }}, leave at {{ unsubscribe_url }}\n"
HTML = '<p><a href="{{ unsubscribe_url }}">unsubscribe</a></p>'


def parsed(sink: SmtpSink) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.messages]


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def subscribers(rt: Runtime) -> dict[str, tuple[int, int]]:
    rows = rt.db.transaction(
        lambda c: c.execute(select(Subscriber.email, Subscriber.id, Subscriber.list_id)).all()
    )
    return {str(e): (int(i), int(lst)) for e, i, lst in rows}


async def send_campaign(rt: Runtime, sinks: StartSinks) -> list[EmailMessage]:
    """A campaign of three through one sink; the messages as the sink received them."""
    [sink] = await sinks(1)
    pool_of_sinks(rt, [sink])
    _, uid = make_campaign(rt, 3, text=TEXT, html=HTML)
    result = await send_until_settled(rt, uid)
    assert result.by_status == {"sent": 3}
    return parsed(sink)


@pytest.mark.slow
async def test_each_message_names_its_subscriber_and_list_and_no_mailto_without_a_domain(
    tmp_path: Path, sinks: StartSinks
) -> None:
    rt = Runtime.open(make_settings(tmp_path, public_url=PUBLIC))
    try:
        received = await send_campaign(rt, sinks)
        key = rt.box.derive(UNSUBSCRIBE_PURPOSE)
        people = subscribers(rt)
        assert len(received) == 3
        tokens = set()
        for msg in received:
            header = str(msg["List-Unsubscribe"])
            match = URL.match(header)
            assert match is not None, header
            assert header == match.group(0)  # the URL alone: no bounce domain, no mailto
            token = match.group(1)
            tokens.add(token)
            assert read_unsubscribe_token(token, key) == people[str(msg["To"])]
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # The merge field is the same URL, in the text and (escaped as needed) the HTML.
            assert f"leave at {PUBLIC}/u/{token}" in body(msg, "plain")
            assert f'href="{PUBLIC}/u/{token}"' in body(msg, "html")
            # The old mailto to the sender's own domain is gone.
            assert "example.com?" not in header and "mailto" not in header
            # The token reveals neither the address nor the list: only opaque ids.
            assert str(msg["To"]).split("@")[0] not in token
            # Signed: any other key, the return path's included, reads nothing.
            assert read_unsubscribe_token(token, rt.box.derive(RETURN_PATH_PURPOSE)) is None
        assert len(tokens) == 3
    finally:
        rt.close()


@pytest.mark.slow
async def test_with_a_bounce_domain_the_header_adds_a_mailto_with_the_same_token(
    tmp_path: Path, sinks: StartSinks
) -> None:
    rt = Runtime.open(
        make_settings(tmp_path, public_url=PUBLIC, bounce_domain="bounce.example.net")
    )
    try:
        received = await send_campaign(rt, sinks)
        key = rt.box.derive(UNSUBSCRIBE_PURPOSE)
        people = subscribers(rt)
        assert len(received) == 3
        for msg in received:
            header = str(msg["List-Unsubscribe"])
            match = re.fullmatch(
                r"<https://mail\.example\.com/u/([a-z2-7]+)>, "
                r"<mailto:unsubscribe\+([a-z2-7]+)@bounce\.example\.net>",
                header,
            )
            assert match is not None, header
            assert match.group(1) == match.group(2)
            assert read_unsubscribe_token(match.group(2), key) == people[str(msg["To"])]
    finally:
        rt.close()


@pytest.mark.slow
async def test_transactional_mail_carries_no_list_headers_and_an_empty_merge_field(
    tmp_path: Path, sinks: StartSinks
) -> None:
    rt = Runtime.open(make_settings(tmp_path, public_url=PUBLIC, bounce_domain="b.example.net"))
    try:
        [sink] = await sinks(1)
        pool_of_sinks(rt, [sink])
        customer = rt.db.transaction(lambda c: c.execute(select(Customer.id)).scalar_one())
        message = Transactional(
            "ada@example.com", "Receipt", "shop@example.com", text="[{{ unsubscribe_url }}]\n"
        )
        rt.db.transaction(
            send_transactional, customer, message, public_url=PUBLIC, now=datetime.now(UTC)
        )
        worker = rt.worker()
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        async with asyncio.timeout(30):
            while not sink.messages:
                await asyncio.sleep(0.05)
        stop.set()
        await task
        [msg] = parsed(sink)
        assert msg["List-Unsubscribe"] is None
        assert msg["List-Unsubscribe-Post"] is None
        assert body(msg, "plain").startswith("[]")
    finally:
        rt.close()


def test_without_a_token_a_message_has_no_list_headers_and_ours_beats_a_subscriber_field() -> None:
    tpl = CampaignTemplate(
        subject="{{ unsubscribe_url }}",
        from_email="news@example.com",
        text_body="{{ unsubscribe_url }}|{{ email }}",
        public_url="https://m.example.com/",
    )
    forged = {"unsubscribe_url": "https://evil.example/", "email": "x@evil.example"}
    plain = tpl.render(uid="u1", recipient="a@example.com", fields=forged, date="")
    assert plain.headers == {} and plain.subject == "" and plain.text == "|a@example.com"
    signed = tpl.render(
        uid="u1", recipient="a@example.com", fields=forged, date="", unsubscribe="abc"
    )
    assert signed.subject == "https://m.example.com/u/abc"
    assert signed.text == "https://m.example.com/u/abc|a@example.com"
    assert signed.headers == {
        "List-Unsubscribe": "<https://m.example.com/u/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def test_transactional_mail_about_a_list_carries_that_lists_headers(
    tmp_path: Path, sinks: StartSinks
) -> None:
    rt = Runtime.open(make_settings(tmp_path, public_url=PUBLIC))
    try:
        [sink] = await sinks(1)
        pool_of_sinks(rt, [sink])
        make_campaign(rt, 2, launched=False)  # a list with user0 and user1
        people = subscribers(rt)
        customer = rt.db.transaction(lambda c: c.execute(select(Customer.id)).scalar_one())
        list_uid = rt.db.transaction(lambda c: c.execute(select(MailingList.uid)).scalar_one())
        now = datetime.now(UTC)

        def send(to: str, listed: str | None) -> str:
            message = Transactional(
                to, "Confirm", "shop@example.com", text="[{{ unsubscribe_url }}]\n",
                unsubscribe_list=listed,
            )  # fmt: skip
            return rt.db.transaction(
                send_transactional, customer, message, public_url=PUBLIC, now=now
            )

        send("user0@example.com", list_uid)
        # Asked for a list the recipient is not on, or one that is not there: refused.
        for to, listed in (("stranger@example.com", list_uid), ("user1@example.com", "nope")):
            with pytest.raises(FieldError) as refused:
                send(to, listed)
            assert refused.value.errors[0][0] == "unsubscribe_list"
        worker = rt.worker()
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        async with asyncio.timeout(30):
            while not sink.messages:
                await asyncio.sleep(0.05)
        stop.set()
        await task
        [msg] = parsed(sink)
        found = URL.match(str(msg["List-Unsubscribe"]))
        assert found is not None
        key = rt.box.derive(UNSUBSCRIBE_PURPOSE)
        assert read_unsubscribe_token(found.group(1), key) == people["user0@example.com"]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert body(msg, "plain").startswith(f"[{PUBLIC}/u/{found.group(1)}]")
    finally:
        rt.close()
