"""The pool's own symptoms, for ``doctor``: what is quietly wrong though every server is up.

A server in no plan never sends, however healthy; a plan left with one
server that can send has no second one to fall back on; a plan whose split
over the last 30 days is 100/0 has a server that should send and does not;
a bounce rate over the rate where rebalancing cuts a limit is worth a look
long before it is near the pause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection

from sendpool.config import Settings
from sendpool.core.patterns import Pattern
from sendpool.core.servers import Usage
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.services.operations.doctor_checks import Check, Status
from sendpool.services.operations.events import standings
from sendpool.services.operations.forecasts import plan_forecasts
from sendpool.services.operations.split import DAYS, plan_splits
from sendpool.store.records import PoolRows

# Under this many sends in 24 h a bounce rate says little: 2 of 20 is not 10 %.
HIGH_BOUNCE_MIN_SENT = 100
# An authentication refusal: SMTP 535 / 5.7.8 (RFC 4954 §6), an API's 401 or 403.
AUTH_ERROR = re.compile(r"\b(535|5\.7\.8|401|403)\b|authenticat", re.IGNORECASE)
FLATLINE = timedelta(hours=24)


def _not_in_a_plan(pool: PoolRows) -> list[Check]:
    placed = {i for members in pool.plan_servers.values() for i in members}
    return [
        Check(
            f"server {r.name} plans",
            Status.WARN,
            "in no plan: the dispatcher never picks it, however healthy it is",
            "attach it to a plan ([[plans]] servers in the pool file, or the plan's page), "
            "or disable it if it is kept in reserve",
        )
        for r in sorted(pool.servers, key=lambda r: r.name)
        if r.id not in placed and r.status != ServerStatus.DISABLED
    ]


def _one_effective(pool: PoolRows, now: datetime) -> list[Check]:
    """Plans where one server, or none, of several can send: no fallback."""
    rows = {r.id: r for r in pool.servers}
    checks = []
    for plan_id, plan in sorted(pool.plan_names.items(), key=lambda p: p[1]):
        members = [rows[i] for i in sorted(pool.plan_servers.get(plan_id, ())) if i in rows]
        if not members:
            continue  # the plan row already fails: no server attached
        effective = [
            r.name
            for r in members
            if r.status == ServerStatus.ACTIVE
            and r.health != ServerHealth.DEGRADED
            and r.sending_limit > 0
        ]
        if len(effective) != 1:
            continue
        out = [r for r in members if r.name not in effective]
        why = "; ".join(f"{r.name} {_why_not(r.status, r.health, r.sending_limit)}" for r in out)
        detail = f"one effective server ({effective[0]}) of {len(members)}"
        detail += f": {why}" if why else ": the only one attached"
        advice = "attach a second server (or enable the others) so one outage does not stop it"
        checks.append(Check(f"plan {plan} servers", Status.WARN, detail, advice))
    return checks


def _why_not(status: str, health: str, limit: int) -> str:
    if status != ServerStatus.ACTIVE:
        return status
    if health == ServerHealth.DEGRADED:
        return "degraded"
    return "has sending_limit 0" if limit <= 0 else "sends"


def _auth_flatline(pool: PoolRows, now: datetime) -> list[Check]:
    """A server refused at sign-in (SMTP 535, an API 401/403) that has sent nothing for a day.

    Its own row says it is degraded; this says it has been so long enough that
    the credentials, not the network, are the likely cause.
    """
    checks = []
    for r in sorted(pool.servers, key=lambda r: r.name):
        error = r.health_error or ""
        quiet = r.last_activity_at is None or now - r.last_activity_at >= FLATLINE
        if r.health == ServerHealth.DEGRADED and AUTH_ERROR.search(error) and quiet:
            since = "never sent" if r.last_activity_at is None else "nothing sent for a day"
            detail = f"authentication refused and {since}: {error.rstrip('.')}"
            advice = (
                f"fix its credentials (the *_env variables), then `sendpool servers test {r.name}`"
            )
            checks.append(Check(f"server {r.name} sign-in", Status.FAIL, detail, advice))
    return checks


def _splits(conn: Connection, pool: PoolRows, now: datetime) -> list[Check]:
    checks = []
    for p in plan_splits(conn, pool, now):
        if p.verdict.pattern in (Pattern.NOTHING_SENT, Pattern.SINGLE):
            continue
        shares = " / ".join(f"{s.name} {s.observed:.0f} %" for s in p.verdict.shares)
        predicted = " / ".join(f"{s.predicted:.0f}" for s in p.verdict.shares)
        detail = f"last {DAYS} days {shares} (caps predict {predicted}): {p.verdict.words}"
        name = f"plan {p.plan} split"
        if p.verdict.is_bug:
            advice = "enable it or attach it again; then `sendpool send-waiting-now --plan ...`"
            checks.append(Check(name, Status.FAIL, detail, advice))
        elif p.verdict.pattern in (Pattern.LOWER_CAP, Pattern.UNEVEN):
            checks.append(Check(name, Status.WARN, detail, "see /admin/distribution"))
        else:
            checks.append(Check(name, Status.OK, detail))
    return checks


def _high_bounces(conn: Connection, settings: Settings, now: datetime) -> list[Check]:
    high = settings.rebalance_cut_above
    checks = []
    for s in standings(conn, now):
        r = s.rates
        if r.sent >= HIGH_BOUNCE_MIN_SENT and r.bounce_rate > high:
            detail = (
                f"bounce rate {100 * r.bounce_rate:.2f} % over {r.sent:,} sends in 24 h, "
                f"above {100 * high:.0f} % (where daily rebalancing cuts its limit)"
            )
            advice = f"see what bounces: `sendpool bounces list --server {s.name}`"
            checks.append(Check(f"bounces {s.name}", Status.WARN, detail, advice))
    return checks


def _forecasts(
    conn: Connection, pool: PoolRows, usage: Mapping[int, Usage], now: datetime
) -> list[Check]:
    checks = []
    for f in plan_forecasts(conn, pool, usage, now):
        if not f.waiting and all(h.at <= now for h in f.hits):
            continue  # nothing fills later today: the server and plan rows say enough
        name = f"forecast {f.plan}"
        if f.waiting:
            advice = "add room before then: raise caps, attach or enable servers"
            checks.append(Check(name, Status.WARN, f.sentence, advice))
        else:
            checks.append(Check(name, Status.OK, f.sentence))
    return checks


def pool_symptoms(
    conn: Connection,
    pool: PoolRows,
    settings: Settings,
    now: datetime,
    usage: Mapping[int, Usage] | None = None,
) -> list[Check]:
    """Every symptom row for doctor, in the order an operator reads them, then the forecast."""
    return [
        *_not_in_a_plan(pool),
        *_one_effective(pool, now),
        *_splits(conn, pool, now),
        *_high_bounces(conn, settings, now),
        *_auth_flatline(pool, now),
        *_forecasts(conn, pool, usage or {}, now),
    ]
