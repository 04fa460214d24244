"""Chaos bench: a fault matrix against real `sendpool worker` processes, one row per fault.

    .venv/bin/python bench/chaos.py                    # 10,000 messages per row
    .venv/bin/python bench/chaos.py --messages 2000 --only kill --json

Every row gets a fresh database (SQLite, or PostgreSQL with a private
redis-server), its own relays on 127.0.0.1 (aiosmtpd sinks that record each
Message-ID, and tests/support/faulty_smtp.py for the slow, blackhole and lossy
relays), and real worker processes. Each server has a daily cap; one server
of each pool is capped below its even share, so "over cap" means something.
The clock runs from the moment the queued messages become due (the workers
are already polling) to the last sent_at. "× base" divides by the baseline
of the same back end measured in this run: the machine is shared and noisy.

Targets (docs/design.md §1.4, §3, §5): nothing lost; no server past its cap;
undeclared duplicates only after a crash, at most what the dead workers had
handed to a transport; no unit burned beyond those messages plus lost replies.
The exit code is 1 when a row misses one (--no-fail only reports).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parents[1]
# tests/support holds the faulty relay and the pool helpers; chaos_parts sits beside this file.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))

from chaos_parts import (  # noqa: E402
    BackendKiller,
    Backends,
    Place,
    Relay,
    RowResult,
    in_flight_of,
    relays,
    tally,
    worker_procs,
)

from sendpool.config import Settings  # noqa: E402
from sendpool.core.quota import Denial  # noqa: E402
from sendpool.core.servers import Caps  # noqa: E402
from sendpool.core.windows import windows_at  # noqa: E402
from sendpool.runtime import Runtime  # noqa: E402
from sendpool.services.campaigns.report import campaign_report  # noqa: E402
from sendpool.store.catalog import live_workers  # noqa: E402
from sendpool.store.tables import Message  # noqa: E402
from tests.support.scenario import apply, make_campaign, smtp_server  # noqa: E402
from tests.support.workers import noon_zone, worker_env  # noqa: E402

Backend = Literal["sqlite", "postgresql+redis"]
SQLITE: Backend = "sqlite"
PG: Backend = "postgresql+redis"
LABEL: dict[str, str] = {SQLITE: "SQLite", PG: "PG + Redis"}

CAPPED = Relay("capped", "sink", 0.25)  # below its third: it fills, the others absorb the rest
SLOW = Relay("slow", "slow", 0.03, max_connections=2)  # 0.2 s per DATA: 10 messages/s
HOLE = Relay("blackhole", "blackhole", 0.30, max_connections=2)  # accepts TCP, never greets
LOSSY = Relay("lossy", "lossy", 0.005)  # takes the message, hangs up before its 250
KILLS = (0.2, 0.45, 0.7)  # shares of the campaign delivered when a worker is killed


@dataclass(frozen=True)
class Scenario:
    """One row: the back end, the pool's third server and the faults, each at a share delivered."""

    name: str
    backend: Backend
    workers: int
    third: Relay = CAPPED
    kills: tuple[float, ...] = ()
    redis_restarts: tuple[float, ...] = ()
    kills_in_redis_restart: tuple[float, ...] = ()
    backend_kill_rounds: int = 0  # pg_terminate_backend rounds, from 10 % delivered on
    lease: float = 5.0

    @property
    def relays(self) -> tuple[Relay, ...]:
        return (Relay("fast-a", "sink", 0.55), Relay("fast-b", "sink", 0.55), self.third)

    @property
    def crashes(self) -> bool:
        return bool(self.kills or self.kills_in_redis_restart)


def matrix() -> list[Scenario]:
    return [
        Scenario("baseline", SQLITE, 2),
        Scenario("kill -9 ×3", SQLITE, 2, kills=KILLS),
        Scenario("baseline", PG, 3),
        Scenario("kill -9 ×3", PG, 3, kills=KILLS),
        Scenario("Redis restart", PG, 3, redis_restarts=(0.3,)),
        Scenario("kill -9 during Redis restart ×2", PG, 3, kills_in_redis_restart=(0.3, 0.6)),
        Scenario("backend kills ×10", PG, 3, backend_kill_rounds=10),
        Scenario("slow relay, lease 5 s", PG, 3, third=SLOW),
        Scenario("blackhole relay", PG, 3, third=HOLE),
        Scenario("lost reply, capped relay", PG, 3, third=LOSSY),
        Scenario("slow relay + kill -9 ×3", PG, 3, third=SLOW, kills=KILLS),
        Scenario("blackhole + Redis restart", PG, 3, third=HOLE, redis_restarts=(0.3,)),
        Scenario("lost reply + backend kills", PG, 3, third=LOSSY, backend_kill_rounds=10),
    ]


# The same worker settings in every row, baseline included, so drain times compare.
WORKER_SETTINGS: dict[str, object] = {
    "send_timeout": 5,
    "batch_size": 100,
    "max_in_flight": 300,  # per worker: the bound on what a crash can leave in flight
    "retry_base_seconds": 1,  # a lost reply is retried after a back-off (docs/design.md §1.5)
    "health_check_interval": 2,  # so a relay degraded by a lost reply comes back and fills its cap
}


def pool_file(s: Scenario, ports: dict[str, int], n: int, zone: str) -> dict[str, Any]:
    servers = [
        smtp_server(r.name, ports[r.name], r.cap(n), timezone=zone)
        | ({"max_connections": r.max_connections} if r.max_connections else {})
        for r in s.relays
    ]
    return {
        "servers": servers,
        "plans": [{"name": "P", "servers": [r.name for r in s.relays]}],
        "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
    }


def hold(rt: Runtime, until: datetime) -> None:
    """Every message due at ``until``: held while the workers start, then let go at once."""
    rt.db.transaction(lambda c: c.execute(update(Message).values(due_at=until)))


def make_ledger_whole(rt: Runtime) -> None:
    """A Redis ledger rebuilds itself on first use: done before the clock runs."""
    now = datetime.now(UTC)
    for _ in range(100):
        grant = asyncio.run(rt.ledger.reserve(0, windows_at(now), Caps(1), 1, now))
        if grant.denied is not Denial.UNAVAILABLE:
            return
        time.sleep(0.1)


def run_row(backends: Backends, s: Scenario, n: int, timeout: float) -> RowResult:
    """One row from a fresh database to the tally; everything it starts is stopped."""
    row = RowResult(s.name, s.backend, s.workers, n)
    with ExitStack() as stack:
        place: Place = stack.enter_context(backends.place(s.backend))
        found = stack.enter_context(relays(s.relays))
        settings = Settings(
            database_url=place.url,
            redis_url=place.redis_url,
            secret_key=Fernet.generate_key().decode(),
        )
        monitor = settings.model_copy(update={"database_url": place.monitor_url})
        rt = stack.enter_context(Runtime.open(monitor))
        apply(rt, pool_file(s, found.ports, n, noon_zone(datetime.now(UTC))))
        _, uid = make_campaign(rt, n)
        hold(rt, datetime.now(UTC) + timedelta(days=1))
        if place.redis is not None:
            make_ledger_whole(rt)
        env = worker_env(settings, lease_seconds=s.lease, **WORKER_SETTINGS)
        procs = stack.enter_context(worker_procs(env, place.logs))
        procs.start(s.workers)
        up = time.monotonic() + 60
        while rt.db.transaction(live_workers, datetime.now(UTC)) < s.workers:
            if time.monotonic() > up or procs.died():
                raise SystemExit(f"{s.name}: the workers did not start; logs in {place.logs}")
            time.sleep(0.1)
        started = datetime.now(UTC)
        hold(rt, started)
        events = sorted(
            [(share, "kill") for share in s.kills]
            + [(share, "redis") for share in s.redis_restarts]
            + [(share, "kill+redis") for share in s.kills_in_redis_restart]
            + ([(0.1, "backends")] if s.backend_kill_rounds else [])
        )
        done: list[str] = []
        killers: list[BackendKiller] = []

        def crash() -> None:
            pid = procs.kill_one()
            row.in_flight.append(rt.db.transaction(in_flight_of, pid))

        deadline = time.monotonic() + timeout
        while True:
            while events and found.delivered() >= events[0][0] * n:
                _, what = events.pop(0)
                if what == "kill":
                    crash()
                    procs.start(1)
                elif what == "redis" and place.redis is not None:
                    place.redis.restart(down_for=0.5)
                elif what == "kill+redis" and place.redis is not None:
                    place.redis.stop()
                    crash()
                    time.sleep(0.5)
                    place.redis.start()
                    procs.start(1)
                elif what == "backends":
                    killers.append(BackendKiller(place.url, s.backend_kill_rounds))
                    stack.callback(killers[-1].stop)
                    killers[-1].start()
                done.append(what)
            for pid, code, tail in procs.died():
                # As systemd would: count what it held, start another.
                row.in_flight.append(rt.db.transaction(in_flight_of, pid))
                row.problems.append(f"worker {pid} exited with {code}: {tail.strip()[-200:]}")
                procs.start(1)
            report = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
            if report.settled and not events:
                break
            if time.monotonic() > deadline:
                row.timed_out = True
                row.problems.append(f"not drained within {timeout:.0f} s: {report.by_status}")
                break
            time.sleep(0.2)
        for k in killers:
            k.stop()
        procs.stop()
        last = rt.db.transaction(lambda c: c.execute(select(func.max(Message.sent_at))).scalar())
        row.seconds = ((last or datetime.now(UTC)) - started).total_seconds()
        if row.timed_out:
            row.seconds = timeout
        tally(rt, found, {r.name: r.cap(n) for r in s.relays}, row)
        row.faults = describe(done, killers)
        if events:
            row.problems.append(f"faults never applied: {[w for _, w in events]}")
    return row


def describe(done: list[str], killers: list[BackendKiller]) -> str:
    parts = []
    if k := done.count("kill"):
        parts.append(f"{k} kill -9")
    if k := done.count("redis"):
        parts.append(f"{k} Redis restart")
    if k := done.count("kill+redis"):
        parts.append(f"{k} kill -9 while Redis was down")
    for killer in killers:
        parts.append(f"{sum(killer.done)} backends killed in {len(killer.done)} rounds")
    return ", ".join(parts)


@dataclass
class Verdict:
    row: RowResult
    ratio: float | None = None
    misses: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.misses


def judge(scenario: Scenario, r: RowResult) -> list[str]:
    """The targets this row missed, each with its numbers and server."""
    misses = list(r.problems)
    if r.lost:
        misses.append(f"{r.lost} lost ({r.lost_detail})")
    for s in r.servers:
        if s.over:
            misses.append(
                f"{s.name} over cap by {s.over}: {s.delivered} delivered, {s.used} units used, "
                f"cap {s.cap}"
            )
    handed = sum(r.in_flight)
    if scenario.crashes or r.in_flight:
        if r.undeclared > handed:
            misses.append(
                f"{r.undeclared} undeclared duplicates > {handed} handed over at the crashes"
            )
    elif r.undeclared:
        misses.append(f"{r.undeclared} undeclared duplicates in a row without a crash")
    if scenario.backend_kill_rounds and not r.faults.count("rounds"):
        misses.append("no backend was killed")
    if r.burned > handed + r.lost_replies:
        per = ", ".join(f"{s.name} {s.burned}" for s in r.servers if s.burned)
        misses.append(
            f"{r.burned} units burned ({per}) > {handed} handed over at crashes "
            f"+ {r.lost_replies} lost replies"
        )
    return misses


def verdicts(scenarios: list[Scenario], rows: list[RowResult]) -> list[Verdict]:
    base = {
        s.backend: r.seconds for s, r in zip(scenarios, rows, strict=True) if s.name == "baseline"
    }
    out = []
    for s, r in zip(scenarios, rows, strict=True):
        ref = base.get(s.backend)
        ratio = r.seconds / ref if ref and not r.timed_out else None
        out.append(Verdict(r, ratio, judge(s, r)))
    return out


def table(n: int, found: list[Verdict]) -> Table:
    t = Table(title=f"sendpool under faults: {n:,} messages per row, fresh database each")
    heads = [
        "row",
        "back end",
        "sent",
        "wait",
        "lost",
        "dup decl.",
        "dup undecl.",
        "over cap",
        "burned",
        "in flight at crashes",
        "most tries",
        "drain s",
        "× base",
        "verdict",
    ]
    for h in heads:
        t.add_column(h, justify="left" if h in ("row", "back end", "verdict") else "right")
    for v in found:
        r = v.row
        flight = f"{sum(r.in_flight)} ({'+'.join(map(str, r.in_flight))})" if r.in_flight else "–"
        t.add_row(
            r.name,
            f"{LABEL[r.backend]} ×{r.workers}",
            f"{r.sent:,}",
            f"{r.waiting:,}",
            str(r.lost),
            str(r.declared),
            str(r.undeclared),
            str(sum(s.over for s in r.servers)),
            str(r.burned),
            flight,
            str(r.most_attempts),
            f"{r.seconds:.1f}" + ("+" if r.timed_out else ""),
            f"{v.ratio:.2f}" if v.ratio is not None else "–",
            "[green]ok[/]" if v.ok else "[red]MISS[/]",
        )
    t.caption = (
        "wait: pending with a reason (over the pool's caps); dup decl.: copies marked "
        "X-Sendpool-Possible-Duplicate; burned: ledger units used minus deliveries at that "
        "server, summed; most tries: the most attempts one message took; × base: against the "
        "baseline of the same back end in this run"
    )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000, help="per row (at least 100)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run the rows whose name contains TEXT (and the baselines)",
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL + Redis rows")
    parser.add_argument(
        "--row-timeout",
        type=float,
        default=None,
        help="seconds a row may take to drain (default 120 + 0.03 s a message)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--no-fail", action="store_true", help="exit 0 even when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.messages < 100:
        parser.error("--messages must be at least 100, so that every cap is above a few messages")
    console = Console(width=160, stderr=args.json)
    # The bench's own ledger reports Redis rebuilds; the workers' logs are in their files.
    logging.getLogger("sendpool").setLevel(logging.ERROR)
    chosen = [
        s
        for s in matrix()
        if s.name == "baseline"
        or not args.only
        or any(o.lower() in s.name.lower() for o in args.only)
    ]
    # Ctrl-C and SIGTERM unwind every row's stack, stopping what it started; SIGINT is
    # set explicitly because a shell's background job starts with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with Backends() as backends:
        if args.sqlite_only or not backends.postgres_and_redis():
            if not args.sqlite_only:
                console.print(f"[yellow]PostgreSQL + Redis rows skipped: {backends.missing}[/]")
            chosen = [s for s in chosen if s.backend == SQLITE]
        timeout = args.row_timeout or 120 + 0.03 * args.messages
        rows = []
        for s in chosen:
            console.print(f"{s.name} ({LABEL[s.backend]} ×{s.workers}) ...", end=" ")
            row = run_row(backends, s, args.messages, timeout)
            console.print(f"{row.seconds:.1f} s, {row.faults or 'no fault'}")
            rows.append(row)
    found = verdicts(chosen, rows)
    if args.json:
        print(
            json.dumps(
                {"messages": args.messages, "rows": [as_json(v) for v in found]},
                indent=2,
                default=str,
            )
        )
    else:
        console.print(table(args.messages, found))
        for v in found:
            for miss in v.misses:
                console.print(f"[red]{v.row.name} ({LABEL[v.row.backend]}): {miss}[/]")
    return 0 if args.no_fail or all(v.ok for v in found) else 1


def scenario_on(s: Scenario, backend: Backend, workers: int) -> Scenario:
    """The same row on another back end (the smoke test runs rows on SQLite)."""
    return replace(s, backend=backend, workers=workers)


def run(scenarios: list[Scenario], n: int, timeout: float) -> list[Verdict]:
    """Run rows without printing, for tests: their verdicts."""
    with Backends() as backends:
        rows = [run_row(backends, s, n, timeout) for s in scenarios]
    return verdicts(scenarios, rows)


def as_json(v: Verdict) -> dict[str, Any]:
    return {**asdict(v.row), "ratio": v.ratio, "ok": v.ok, "misses": v.misses}


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every worker, relay, Redis and database of the bench was stopped")
        sys.exit(130)
