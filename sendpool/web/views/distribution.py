"""How each plan's mail spread over its servers in the last 30 days, what it means, and the skips.

A message counts under the plan it was sent under: its campaign's own plan,
else its customer's plan as the customer's region rule and plan say today
(services/operations/split.py). Beside the observed split stands the split
the caps and warm-ups predict, and the verdict in words (core/patterns.py).
The skip counts are messages: one message left out of a server is counted
once, however often it is looked at again (pipeline/dispatch.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from sendpool.core.filters import SkipCode
from sendpool.core.patterns import Pattern, Verdict
from sendpool.services import refs
from sendpool.services.messages.log import skip_reasons
from sendpool.services.operations.doctor_checks import read_pool
from sendpool.services.operations.split import DAYS as DAYS
from sendpool.services.operations.split import plan_splits, sent_by_plan, window_start
from sendpool.services.servers.queries import Ref
from sendpool.services.tenancy.plans import list_plans

# What each pattern means, for the operator reading the page (core/patterns.py).
MEANING: dict[Pattern, str] = {
    Pattern.NOTHING_SENT: "Nothing was sent under this plan in the window.",
    Pattern.SINGLE: "One server carries the plan: there is no split, and no fallback.",
    Pattern.ROUND_ROBIN: "Every server took an even share, as round-robin deals it.",
    Pattern.RAMP_UP: (
        "The warming servers take what their warm-up allows and the large one the rest; "
        "the split evens out as they reach their targets."
    ),
    Pattern.LOWER_CAP: (
        "Round-robin dealt evenly until the smaller caps filled; raise them, or accept the "
        "uneven split, to align the servers."
    ),
    Pattern.STARVED: (
        "A server that should send got nothing: it is disabled, degraded or was taken out "
        "of the plan. Fix it: until then one server carries everything."
    ),
    Pattern.UNEVEN: (
        "The split is more uneven than the caps explain: look at why servers were skipped, below."
    ),
}
# Which dispatcher step (docs/design.md §1) each skip code comes from.
FILTER_OF: dict[str, str] = {
    SkipCode.NOT_IN_PLAN: "plan",
    SkipCode.NO_SMTPUTF8: "SMTPUTF8",
    SkipCode.DISABLED: "status",
    SkipCode.SERVER_PAUSED: "status",
    SkipCode.DEGRADED: "health",
    SkipCode.PAUSED: "health",
    SkipCode.ZERO_LIMIT: "quota",
    SkipCode.DAILY_CAP: "quota",
    SkipCode.HOURLY_CAP: "quota",
    SkipCode.RATE: "quota",
    SkipCode.BUSY: "quota",
    SkipCode.WARMUP_CAP: "warm-up",
    SkipCode.WARMING_BURST: "warm-up",
    SkipCode.PREFER_WARMING: "warm-up",
    SkipCode.RACE: "rotation",
}


@dataclass(frozen=True, slots=True)
class ServerShare:
    name: str
    sent: int
    percent: float
    attached: bool  # still in the plan today
    predicted: float = 0.0  # percent the caps and warm-ups predict


@dataclass(frozen=True, slots=True)
class DayColumn:
    day: date
    sent: dict[str, int]  # server name -> messages

    @property
    def total(self) -> int:
        return sum(self.sent.values())


@dataclass(frozen=True, slots=True)
class SkipLine:
    server: str
    filter: str
    code: str
    reason: str
    times: int


@dataclass(frozen=True, slots=True)
class PlanDistribution:
    uid: str
    name: str
    servers: list[Ref]
    shares: list[ServerShare]
    days: list[DayColumn]
    skips: list[SkipLine]
    verdict: Verdict | None = None

    @property
    def meaning(self) -> str:
        return MEANING[self.verdict.pattern] if self.verdict is not None else ""

    @property
    def total(self) -> int:
        return sum(s.sent for s in self.shares)


def distribution(conn: Connection, now: datetime) -> list[PlanDistribution]:
    since = window_start(now, DAYS)
    first = since.date()
    sent = sent_by_plan(conn, since)
    verdicts = {p.plan_id: p.verdict for p in plan_splits(conn, read_pool(conn, now), now)}
    out = []
    for plan in list_plans(conn):
        plan_id = refs.plan_id(conn, plan.uid)
        counts = sent.get(plan_id, {})
        by_server: Counter[str] = Counter()
        by_day: dict[date, dict[str, int]] = defaultdict(dict)
        for (server, d), n in counts.items():
            by_server[server] += n
            by_day[d][server] = n
        total = max(1, sum(by_server.values()))
        attached = {s.name for s in plan.servers}
        names = sorted(attached | set(by_server))
        verdict = verdicts.get(plan_id)
        predicted = {s.name: s.predicted for s in verdict.shares} if verdict else {}
        shares = [
            ServerShare(
                n, by_server[n], 100.0 * by_server[n] / total, n in attached, predicted.get(n, 0.0)
            )
            for n in names
        ]
        days = [
            DayColumn(first + timedelta(days=i), by_day.get(first + timedelta(days=i), {}))
            for i in range(DAYS)
        ]
        skips = [
            SkipLine(s.server, FILTER_OF.get(s.code, s.code), s.code, s.reason, s.messages)
            for s in skip_reasons(conn, plan_id, first.isoformat())
        ]
        out.append(
            PlanDistribution(plan.uid, plan.name, list(plan.servers), shares, days, skips, verdict)
        )
    return out
