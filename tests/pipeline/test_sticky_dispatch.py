"""Sticky routing through the real dispatcher: one server per domain, fallback said and counted."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from sendpool.core.selectors.sticky import Fallback, order
from sendpool.core.servers import ServerView
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.pipeline.pool import PoolState
from sendpool.pipeline.prepare import Job
from sendpool.pipeline.sticky_notes import FallbackNotes, describe
from sendpool.store.ledger_memory import MemoryLedger
from tests.support.dispatch_helpers import NOW, job, pool_state

SERVERS = [ServerView(id=i, name=f"s{i}", sending_limit=100_000) for i in (1, 2, 3)]
DOMAINS = [f"d{i:02d}.example" for i in range(20)]


def sticky_pool(servers: list[ServerView], name: str) -> PoolState:
    state = pool_state(servers, {1: [1, 2, 3]})
    rows = dataclasses.replace(state.rows, plan_selector={1: "sticky_domain"}, plan_names={1: name})
    return PoolState(rows, state.views, {})


def jobs(per_domain: int = 5) -> list[Job]:
    out = []
    for k in range(per_domain):
        for d in DOMAINS:
            j = job(1)
            j.row.recipient = f"user{k}@{d}"
            out.append(j)
    return out


def placed(ready: list[Job]) -> dict[str, set[int]]:
    by: dict[str, set[int]] = defaultdict(set)
    for j in ready:
        assert j.server is not None
        by[j.domain].add(j.server.id)
    return by


def fallbacks_counted(plan: str) -> float:
    return REGISTRY.get_sample_value("sendpool_sticky_fallbacks_total", {"plan": plan}) or 0.0


async def test_each_domain_goes_to_its_server_and_a_disabled_one_hands_over_to_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "sendpool.worker")
    ledger = MemoryLedger()
    out = await Dispatcher(ledger).assign(jobs(), sticky_pool(SERVERS, "sticky-a"), NOW)
    first = placed(out.ready)
    assert all(len(s) == 1 for s in first.values()) and len(first) == 20
    home = {d: order(SERVERS, d, {})[0].id for d in DOMAINS}
    assert {d: next(iter(s)) for d, s in first.items()} == home
    assert len({*home.values()}) == 3, "20 domains spread over the three servers"
    assert fallbacks_counted("sticky-a") == 0 and "sticky fallback" not in caplog.text

    down = [dataclasses.replace(s, enabled=False) if s.id == 2 else s for s in SERVERS]
    later = NOW + timedelta(minutes=5)
    again = await Dispatcher(ledger).assign(jobs(), sticky_pool(down, "sticky-a"), later)
    second = placed(again.ready)
    for d in DOMAINS:
        expected = order([s for s in SERVERS if s.id != 2], d, {})[0].id
        assert second[d] == {expected if home[d] == 2 else home[d]}
    moved = sum(1 for d in DOMAINS if home[d] == 2)
    assert fallbacks_counted("sticky-a") == 5 * moved
    lines = [r for r in caplog.records if "sticky fallback" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "plan sticky-a: sticky fallback: d" in lines[0].getMessage()
    assert " from s2 to s" in lines[0].getMessage()


async def test_a_round_robin_plan_never_falls_back() -> None:
    state = pool_state(SERVERS[:2], {1: [1, 2, 3]})
    state = PoolState(dataclasses.replace(state.rows, plan_names={1: "rr-b"}), state.views, {})
    await Dispatcher(MemoryLedger()).assign(jobs(1), state, NOW)
    assert fallbacks_counted("rr-b") == 0


def test_the_log_says_it_at_info_once_a_minute_per_plan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "sendpool.worker")
    notes = FallbackNotes()
    names = {s.id: s for s in SERVERS}
    fell = [Fallback("gmail.com", 2, 3, 40)]
    for seconds in (0, 10, 59, 60, 61, 130):
        notes.note("notes-c", fell, names, NOW + timedelta(seconds=seconds))
    notes.note("notes-d", fell, names, NOW)
    notes.note("notes-d", [], names, NOW + timedelta(hours=1))
    levels = [(r.getMessage().split(":")[0], r.levelno) for r in caplog.records]
    info, debug = logging.INFO, logging.DEBUG
    assert levels == [
        ("plan notes-c", info),
        ("plan notes-c", debug),
        ("plan notes-c", debug),
        ("plan notes-c", info),
        ("plan notes-c", debug),
        ("plan notes-c", info),
        ("plan notes-d", info),
    ]
    assert fallbacks_counted("notes-c") == 6 * 40


def test_a_big_batch_is_one_line_naming_the_largest_domains() -> None:
    names = {s.id: s for s in SERVERS}
    fell = [Fallback(f"d{i}.example", 2, 1 + i % 2 * 2, 100 - i) for i in range(10)]
    fell.append(Fallback("d0.example", 2, 9, 1))  # a server gone from the pool: named by id
    said = describe(fell, names)
    assert said == (
        "sticky fallback: d0.example from s2 to s1 (100 messages); "
        "d1.example from s2 to s3 (99 messages); d2.example from s2 to s1 (98 messages); "
        "and 7 more domain(s)"
    )
    assert describe([Fallback("a.example", 7, 1, 2)], names) == (
        "sticky fallback: a.example from server 7 to s1 (2 messages)"
    )
