"""How each plan's mail spread over its servers in the last 30 days, and why servers were skipped.

A message counts under the plan it was sent under: its campaign's own plan,
else its customer's plan as the customer's region rule and plan say today.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.core.filters import SkipCode
from sendpool.core.states import MessageStatus
from sendpool.services import refs
from sendpool.services.messages.log import skip_reasons
from sendpool.services.servers.queries import Ref
from sendpool.services.tenancy.customers import effective_plan_id
from sendpool.services.tenancy.plans import list_plans
from sendpool.store.tables import Campaign, Customer, Message, SendingServer

DAYS = 30
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

    @property
    def total(self) -> int:
        return sum(s.sent for s in self.shares)


def _sent(conn: Connection, since: datetime) -> dict[int, dict[tuple[str, date], int]]:
    """plan id -> (server name, day) -> messages sent."""
    customer_plans = {
        int(c): effective_plan_id(conn, int(c)) for c in conn.execute(select(Customer.id)).scalars()
    }
    day = func.date(Message.sent_at)
    rows = conn.execute(
        select(Campaign.plan_id, Message.customer_id, SendingServer.name, day, func.count())
        .join(SendingServer, SendingServer.id == Message.server_id)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.status == MessageStatus.SENT, Message.sent_at >= since)
        .group_by(Campaign.plan_id, Message.customer_id, SendingServer.name, day)
    )
    out: dict[int, dict[tuple[str, date], int]] = defaultdict(Counter)
    for plan_id, customer_id, server, d, n in rows:
        plan = plan_id if plan_id is not None else customer_plans.get(int(customer_id))
        if plan is not None and d is not None:
            out[int(plan)][(str(server), date.fromisoformat(str(d)[:10]))] += int(n)
    return out


def distribution(conn: Connection, now: datetime) -> list[PlanDistribution]:
    first = now.date() - timedelta(days=DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    sent = _sent(conn, since)
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
        shares = [
            ServerShare(n, by_server[n], 100.0 * by_server[n] / total, n in attached) for n in names
        ]
        days = [
            DayColumn(first + timedelta(days=i), by_day.get(first + timedelta(days=i), {}))
            for i in range(DAYS)
        ]
        skips = [
            SkipLine(s.server, FILTER_OF.get(s.code, s.code), s.code, s.reason, s.messages)
            for s in skip_reasons(conn, plan_id, first.isoformat())
        ]
        out.append(PlanDistribution(plan.uid, plan.name, plan.servers, shares, days, skips))
    return out
