"""Sticky by domain end to end: real worker, real SMTP sinks; a server out hands over its domains."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select, update

from sendpool.core.selectors.sticky import order
from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink
from sendpool.store.tables import Plan, SendingServer
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.sinks import StartSinks

pytestmark = pytest.mark.slow

DOMAINS = [f"mail{i:02d}.example" for i in range(20)]
PER_DOMAIN = 6


def pool(sinks: list[SmtpSink], disabled: str | None = None) -> dict[str, Any]:
    return {
        "servers": [smtp_server(s.name, s.port, enabled=s.name != disabled) for s in sinks],
        "plans": [{"name": "P", "servers": [s.name for s in sinks]}],
        "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
    }


def recipients(campaign: int) -> str:
    rows = [
        f"c{campaign}u{k}@{d},U{k}\n" for k in range(PER_DOMAIN) for d in DOMAINS
    ]  # domains interleaved, as a real list would have them
    return "email,first_name\n" + "".join(rows)


def landed(sinks: list[SmtpSink], prefix: str) -> dict[str, set[str]]:
    """domain -> the sinks that received mail of this campaign for it."""
    by: dict[str, set[str]] = defaultdict(set)
    for s in sinks:
        for m in s.messages:
            for r in m.recipients:
                if r.startswith(prefix):
                    by[r.rpartition("@")[2]].add(s.name)
    return by


async def test_each_domain_lands_on_one_sink_and_a_disabled_one_hands_over_to_the_next(
    runtime: Runtime, sinks: StartSinks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "sendpool.worker")
    three = await sinks(3)
    apply(runtime, pool(three))
    runtime.db.transaction(
        lambda c: c.execute(update(Plan).where(Plan.name == "P").values(selector="sticky_domain"))
    )
    ids = dict(
        runtime.db.transaction(
            lambda c: c.execute(select(SendingServer.name, SendingServer.id)).all()
        )
    )

    _, uid = make_campaign(runtime, 0, csv=recipients(1))
    first = await send_until_settled(runtime, uid)
    assert first.by_status == {"sent": PER_DOMAIN * len(DOMAINS)}
    before = landed(three, "c1u")
    assert set(before) == set(DOMAINS)
    assert all(len(s) == 1 for s in before.values()), before
    home = {d: next(iter(s)) for d, s in before.items()}
    assert len(set(home.values())) == 3, "20 domains spread over all three sinks"

    # Each domain's sink is the first in its rendezvous order, as every worker computes it.
    class Server:
        def __init__(self, name: str) -> None:
            self.name, self.id = name, ids[name]

    servers = [Server(s.name) for s in three]
    assert home == {d: order(servers, d, {})[0].name for d in DOMAINS}

    out = max(three, key=lambda s: sum(1 for h in home.values() if h == s.name)).name
    assert "sticky fallback" not in caplog.text
    apply(runtime, pool(three, disabled=out))
    _, uid2 = make_campaign(runtime, 0, csv=recipients(2))
    second = await send_until_settled(runtime, uid2)
    assert second.by_status == {"sent": PER_DOMAIN * len(DOMAINS)}
    after = landed(three, "c2u")
    for d in DOMAINS:
        if home[d] == out:
            expected = order(servers, d, {})[1].name  # the next in that domain's order
        else:
            expected = home[d]  # the rest stay put
        assert after[d] == {expected}, (d, home[d], after[d])
    said = [r.getMessage() for r in caplog.records if "sticky fallback" in r.getMessage()]
    assert said and all(f" from {out} to " in line for line in said)
