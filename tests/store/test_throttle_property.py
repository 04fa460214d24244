"""Property: a server x provider group never goes past its rate, for any interleaving of workers.

Workers share one ledger (memory) or one database (SQL, each worker its own
ledger object); each has its own clock, which only moves forward; the order
their calls land in is drawn. Over every span of reservation times the grants
stay within ``burst + rate x span``; with no burst configured (one send at a
time), no second holds more than the rate, rounded up.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendpool.core.providers import STRICT_BURST
from sendpool.core.quota import Denial
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.pipeline.ports import QuotaLedger
from sendpool.runtime import Runtime
from sendpool.store.ledger_memory import MemoryLedger
from sendpool.store.ledger_sql import SqlLedger
from tests.support.throttle_bound import SLACK, one_second_windows, worst_window

NOW = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)
_servers = itertools.count(1000)

plans = st.fixed_dictionaries(
    {
        "rate": st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 7.5]),
        "burst": st.one_of(st.none(), st.integers(1, 12)),
        "server_rate": st.one_of(st.none(), st.sampled_from([4.0, 20.0])),
        "workers": st.integers(1, 8),
        # (worker, milliseconds its clock moves on first, units asked)
        "steps": st.lists(
            st.tuples(st.integers(0, 7), st.integers(0, 700), st.integers(1, 9)),
            min_size=1,
            max_size=60,
        ),
    }
)


async def run(
    ledgers: list[QuotaLedger], plan: dict[str, object], server: int
) -> list[tuple[float, int]]:
    rate, burst = float(plan["rate"]), plan["burst"]  # type: ignore[arg-type]
    # No burst configured: one send at a time, as the dispatcher asks (core/providers.py).
    throttle = Throttle("gmail", rate, STRICT_BURST if burst is None else float(burst))  # type: ignore[arg-type]
    caps = Caps(1_000_000, rate=plan["server_rate"])  # type: ignore[arg-type]
    clocks = [0.0] * 8
    grants: list[tuple[float, int]] = []
    for worker, ms, count in plan["steps"]:  # type: ignore[attr-defined]
        clocks[worker] += ms / 1000
        at = NOW + timedelta(seconds=clocks[worker])
        ledger = ledgers[worker % len(ledgers)]
        grant = await ledger.reserve(server, windows_at(at), caps, count, at, throttle=throttle)
        assert grant.granted <= count
        if grant.granted < count:
            assert grant.denied in (Denial.RATE, Denial.GROUP_RATE)
            assert grant.retry_after is not None and grant.retry_after > 0
        grants.append((clocks[worker], grant.granted))
    return grants


def check(grants: list[tuple[float, int]], plan: dict[str, object]) -> None:
    rate = float(plan["rate"])  # type: ignore[arg-type]
    burst = float(plan["burst"] or STRICT_BURST)  # type: ignore[arg-type]
    assert worst_window(grants, rate, burst) <= SLACK * rate
    assert one_second_windows(grants) <= burst + rate + SLACK
    if plan["burst"] is None:
        # Spaced 1/rate apart: no second ever holds more than the rate, rounded up.
        assert one_second_windows(grants, 1.0 - SLACK) <= math.ceil(rate)


@settings(max_examples=150, deadline=None)
@given(plan=plans)
def test_memory_ledger_keeps_every_group_rate(plan: dict[str, object]) -> None:
    ledger = MemoryLedger()
    check(asyncio.run(run([ledger], plan, next(_servers))), plan)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=plans)
def test_sql_ledger_keeps_every_group_rate(runtime: Runtime, plan: dict[str, object]) -> None:
    # A server of its own per example: one database serves them all.
    workers = [SqlLedger(runtime.db) for _ in range(int(plan["workers"]))]  # type: ignore[call-overload]
    check(asyncio.run(run(list(workers), plan, next(_servers))), plan)
