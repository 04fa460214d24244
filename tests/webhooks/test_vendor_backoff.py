"""Vendors' deferral events reach adaptive back-off like the SMTP replies a worker sees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sendpool.core.webhooks.events import EventKind
from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from sendpool.store.backoffs import load_backoffs
from sendpool.store.tables import AuditEntry, SendingServer
from sendpool.store.tables_providers import ProviderGroupRow
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.postmark import PostmarkFake
from tests.support.fakes.sendgrid import SendgridFake
from tests.support.scenario import apply
from tests.support.settings import make_settings
from tests.support.webhook_world import VendorWorld, send_campaign, vendor_pool
from tests.support.webhooks.mailgun import mailgun_event, mailgun_request
from tests.support.webhooks.sendgrid import sendgrid_event, sendgrid_request

pytest_plugins = ["tests.support.fakes.fixtures"]

# The campaign's recipients are at example.com: an operator's group of that domain,
# and a rule on it that engages at the second deferral the vendors' fakes report.
RULE = {"name": "example-deferred", "group": "example", "pattern": "try again|timed out"}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(make_settings(tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
async def world(
    rt: Runtime,
    moto_ses: MotoSes,
    mailgun_fake: MailgunFake,
    postmark_fake: PostmarkFake,
    sendgrid_fake: SendgridFake,
) -> VendorWorld:
    mailgun_key, keys = vendor_pool(
        rt, moto=moto_ses, mailgun=mailgun_fake, postmark=postmark_fake, sendgrid=sendgrid_fake
    )
    world = await send_campaign(rt, 16, mailgun_key=mailgun_key, keys=keys)
    rt.db.transaction(
        lambda c: c.execute(
            ProviderGroupRow.__table__.insert().values(
                name="example", domains=["example.com"], mx=[]
            )
        )
    )
    apply(rt, {"backoff_rules": [RULE]})
    return world


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://sendpool.test") as c:
        yield c


def backed_off(rt: Runtime) -> dict[str, float]:
    names = dict(
        rt.db.transaction(lambda c: c.execute(select(SendingServer.id, SendingServer.name)).all())
    )
    states = rt.db.transaction(load_backoffs, datetime.now(UTC))
    return {f"{names[sid]}/{group}": s.factor for (sid, group), s in states.items()}


async def test_sendgrid_deferred_events_engage_once_each(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    a, b = world.sent["sendgrid"][:2]

    def deferred(m: object, event_id: str) -> dict[str, object]:
        return sendgrid_event(
            EventKind.DELAY, message_uid=m.uid, vendor_id=m.remote_id,  # type: ignore[attr-defined]
            recipient=m.recipient, at=now, event_id=event_id,  # type: ignore[attr-defined]
        )  # fmt: skip

    first, headers = sendgrid_request([deferred(a, "e1")], keys=world.sendgrid_keys, now=now)
    assert (await client.post(world.path("sendgrid"), content=first, headers=headers)).is_success
    # The same event delivered again is one deferral, not two.
    again, headers = sendgrid_request([deferred(a, "e1")], keys=world.sendgrid_keys, now=now)
    assert (await client.post(world.path("sendgrid"), content=again, headers=headers)).is_success
    assert backed_off(world.rt) == {}
    second, headers = sendgrid_request([deferred(b, "e2")], keys=world.sendgrid_keys, now=now)
    assert (await client.post(world.path("sendgrid"), content=second, headers=headers)).is_success
    assert backed_off(world.rt) == {"sendgrid/example": 0.5}
    actions = world.rt.db.transaction(
        lambda c: c.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    )
    assert ("sendpool", "backoff.engage") in actions


async def test_mailgun_temporary_failures_engage(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    for m in world.sent["mailgun"][:2]:
        now = datetime.now(UTC)
        data = mailgun_event(
            EventKind.DELAY, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now
        )
        body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=now)
        answer = await client.post(world.path("mailgun"), content=body, headers=headers)
        assert answer.json() == {"accepted": 1, "applied": 1}
    assert backed_off(world.rt) == {"mailgun/example": 0.5}
