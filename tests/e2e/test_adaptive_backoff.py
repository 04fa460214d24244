"""Adaptive back-off end to end: a sink that defers Gmail like Gmail does, a real worker.

The sink answers ``421 4.7.28`` to gmail.com recipients once it has taken 50 of
them within its window (Gmail's "unusual rate"), and accepts everyone else. The
back-off must engage (state in the database, an audit entry), Gmail's mail must
slow down and wait with a reason naming the back-off, the other recipients'
mail must go at full speed meanwhile, nothing may be lost or sent twice, and
once the sink stops deferring the rate must come back until the back-off ends.

The sink's window is 5 s instead of Gmail's minute, and the rule's hold and
recovery steps are seconds, so the test runs in seconds; nothing asserts on
how long anything took.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.services.operations.audit import list_audit
from sendpool.sinks import RecordingHandler, SmtpSink
from sendpool.store.backoffs import load_backoffs
from sendpool.store.tables import Message
from tests.support.scenario import apply as apply_pool
from tests.support.scenario import make_campaign, report, smtp_server
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

GMAIL, OTHERS = 150, 150
DEFERRAL = (
    "421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail "
    "originating from your IP address. To protect our users from spam, mail sent from "
    "your IP address has been temporarily rate limited. - gsmtp"
)
# The shipped Gmail rule, in seconds instead of minutes: twice in a minute halves the
# rate, held 2 s, then a quarter of the rate back every second.
RULE = {
    "name": "gmail-4.7.28",
    "group": "gmail",
    "code": 421,
    "enhanced": "4.7.28",
    "hits": 2,
    "window": "1m",
    "factor": 0.5,
    "hold": "2s",
    "recover_step": 0.25,
    "recover_every": "1s",
}


@dataclass
class GmailLikeHandler(RecordingHandler):
    """Accepts ``limit`` gmail.com recipients per ``per`` seconds, then answers 421 4.7.28."""

    limit: int = 50
    per: float = 60.0
    clock: Callable[[], float] = time.monotonic
    deferring: bool = True
    taken: deque[float] = field(default_factory=deque)
    deferred: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower().endswith("@gmail.com"):
            now = self.clock()
            while self.taken and self.taken[0] <= now - self.per:
                self.taken.popleft()
            if self.deferring and len(self.taken) >= self.limit:
                self.deferred += 1
                return DEFERRAL
            self.taken.append(now)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"


def recipients() -> str:
    rows = [f"g{i}@gmail.com,G{i}" for i in range(GMAIL)]
    rows += [f"o{i}@example.org,O{i}" for i in range(OTHERS)]
    return "email,first_name\n" + "\n".join(rows) + "\n"


def messages(rt: Runtime) -> list[Any]:
    return list(
        rt.db.transaction(
            lambda c: c.execute(
                select(Message.recipient, Message.status, Message.attempts, Message.last_error)
            ).all()
        )
    )


async def test_gmail_backs_off_others_keep_going_nothing_is_lost(tmp_path: Any) -> None:
    sink = SmtpSink("gmail-like")
    handler = GmailLikeHandler("gmail-like", per=5.0)
    sink.handler = handler
    await sink.start()
    rt = Runtime.open(make_settings(tmp_path, retry_base_seconds=0.2, retry_max_delay_seconds=1.0))
    try:
        apply_pool(
            rt,
            {
                "servers": [smtp_server("relay", sink.port)],
                "plans": [{"name": "P", "servers": ["relay"]}],
                "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
                "provider_limits": [{"server": "relay", "group": "gmail", "rate_per_second": 40.0}],
                "backoff_rules": [RULE],
            },
        )
        _, uid = make_campaign(rt, GMAIL + OTHERS, csv=recipients())
        stop = asyncio.Event()
        worker = asyncio.create_task(rt.worker(health_checks=False).run(stop))
        engaged_while: dict[str, Any] = {}
        try:
            async with asyncio.timeout(240):
                while not (await report(rt, uid)).settled:
                    await asyncio.sleep(0.05)
                    if worker.done():
                        worker.result()
                    now = datetime.now(UTC)
                    states = rt.db.transaction(load_backoffs, now)
                    rows = messages(rt)
                    waiting = [
                        r
                        for r in rows
                        if r.status != "sent" and "gmail-4.7.28" in (r.last_error or "")
                    ]
                    if states and waiting and "states" not in engaged_while:
                        engaged_while.update(states=states, waiting=waiting, rows=rows)
                        handler.deferring = False  # the provider is satisfied: no more 421s
            # Recovery: the worker's heartbeat ends the back-off once its factor is 1.
            async with asyncio.timeout(60):
                while rt.db.transaction(load_backoffs, datetime.now(UTC)):
                    await asyncio.sleep(0.2)
                while not rt.db.transaction(list_audit, action="backoff.recover"):
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await worker

        # The back-off engaged on the relay's Gmail traffic, and it was audited.
        assert handler.deferred > 0
        [(key, state)] = engaged_while["states"].items()
        assert key[1] == "gmail" and state.rule == "gmail-4.7.28" and state.factor <= 0.5
        engaged = rt.db.transaction(list_audit, action="backoff.engage")
        assert engaged and engaged[0].actor == "sendpool" and engaged[0].server_name == "relay"
        # Gmail mail waited, saying why.
        assert all(r.recipient.endswith("@gmail.com") for r in engaged_while["waiting"])
        assert "(backed off to " in engaged_while["waiting"][0].last_error
        # Everyone else went at full speed: at once, never deferred, never held back.
        others = [r for r in messages(rt) if r.recipient.endswith("@example.org")]
        assert {(r.status, r.attempts) for r in others} == {("sent", 1)}
        assert all("gmail" not in (r.last_error or "") for r in others)
        # Nothing lost, nothing twice.
        got = Counter(rcpt for m in sink.messages for rcpt in m.recipients)
        assert len(got) == GMAIL + OTHERS and set(got.values()) == {1}
        assert set(handler.message_ids.values()) == {1}
        assert {r.status for r in messages(rt)} == {"sent"}
        # And the rate came back: the back-off ended, audited as recovered.
        recovered = rt.db.transaction(list_audit, action="backoff.recover")[0]
        assert recovered.actor == "sendpool" and recovered.detail["group"] == "gmail"
    finally:
        rt.close()
        await sink.stop()
