"""Throughput of N `sendpool worker` processes on PostgreSQL + Redis, beside embedded SQLite.

    make bench                                    # bench/run.sh runs this after pipeline.py
    .venv/bin/python bench/scale.py --messages 20000 --workers 1 2 4

Every run gets a fresh database; all of them send to one Postfix smtp-sink
through three servers. The clock runs from the moment the queued messages
become due (the workers are already up and polling) to the last sent_at, so
process start and launch are not timed. Then the quota ledger alone:
reservations per second on Redis and on PostgreSQL, against redis-benchmark's
INCR on the same private redis-server, as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from campaign import prepare
from databases import database, scratch_name
from rich.console import Console
from rich.table import Table
from sinks import best_smtp_source, free_port, smtp_sink
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from sendpool.config import Settings
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.pipeline.ports import QuotaLedger
from sendpool.runtime import Runtime
from sendpool.services.campaigns.report import campaign_report
from sendpool.store.database import Database
from sendpool.store.ledger_redis import Keys, Recounted, RedisLedger
from sendpool.store.ledger_sql import SqlLedger
from sendpool.store.tables import Message, WorkerRecord

console = Console(width=110)
SENDPOOL = [str(Path(sys.executable).with_name("sendpool"))]


# -- services of our own --------------------------------------------------


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server without persistence on a free port; the machine's own is left alone."""
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                if (
                    subprocess.run(
                        ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
                    ).stdout.strip()
                    == "PONG"
                ):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


# -- one throughput run -----------------------------------------------------


@dataclass
class Run:
    mode: str
    workers: int
    sent: int
    seconds: float
    wal_launch: float = 0.0  # bytes of WAL per message: import and launch
    wal_send: float = 0.0  # bytes of WAL per message: claim, send, write-back
    stored: float = 0.0  # bytes per message: the messages table with its indexes

    @property
    def rate(self) -> float:
        return self.sent / self.seconds


def hold(rt: Runtime, until: datetime) -> None:
    """Make every message due at ``until``: held back while the workers start, then let go."""
    rt.db.transaction(lambda c: c.execute(update(Message).values(due_at=until)))


def make_ledger_whole(rt: Runtime) -> None:
    """The Redis ledger rebuilds its counters on first use; do that before the clock runs."""
    now = datetime.now(UTC)
    for _ in range(100):
        grant = asyncio.run(rt.ledger.reserve(0, windows_at(now), Caps(1), 1, now))
        if grant.retry_after is None:
            return
        time.sleep(0.1)


def wal_position(rt: Runtime) -> int:
    """Bytes of WAL written so far, cluster-wide (PostgreSQL only; 0 elsewhere)."""
    if rt.db.sqlite:
        return 0
    sql = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"
    return int(rt.db.transaction(lambda c: c.execute(text(sql)).scalar_one()))


def timed_run(mode: str, settings: Settings, workers: int, port: int, n: int) -> Run:
    rt = Runtime.open(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        wal0 = wal_position(rt)
        _, uid, _ = prepare(rt, port, n)
        wal1 = wal_position(rt)
        hold(rt, datetime.now(UTC) + timedelta(days=1))
        make_ledger_whole(rt)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDPOOL_")}
        env.update(
            {
                "SENDPOOL_DATABASE_URL": settings.database_url,
                "SENDPOOL_SECRET_KEY": settings.secret_key or "",
                "SENDPOOL_POLL_INTERVAL": "0.05",
                "SENDPOOL_REDIS_URL": settings.redis_url or "",
            }
        )
        if not settings.redis_url:
            env.pop("SENDPOOL_REDIS_URL")
        procs = [
            subprocess.Popen([*SENDPOOL, "worker"], env=env, stderr=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        while (
            rt.db.transaction(
                lambda c: c.execute(select(func.count()).select_from(WorkerRecord)).scalar_one()
            )
            < workers
        ):
            time.sleep(0.1)
        started = datetime.now(UTC)
        hold(rt, started)
        wal2 = wal_position(rt)
        while True:
            time.sleep(0.5)
            report = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
            if report.settled:
                break
        last = rt.db.transaction(
            lambda c: c.execute(select(func.max(Message.sent_at))).scalar_one()
        )
        sent = report.by_status.get("sent", 0)
        if sent != n:
            raise SystemExit(f"{mode} x{workers}: not every message was sent: {report.by_status}")
        run = Run(mode, workers, sent, (last - started).total_seconds())
        if not rt.db.sqlite:
            # Every day partition of messages (0021), and a plain table alike.
            size = (
                "SELECT coalesce(sum(pg_total_relation_size(relid)), "
                "pg_total_relation_size('messages')) "
                "FROM pg_partition_tree('messages') WHERE isleaf"
            )
            run.wal_launch = (wal1 - wal0) / n
            run.wal_send = (wal_position(rt) - wal2) / n
            run.stored = rt.db.transaction(lambda c: c.execute(text(size)).scalar_one()) / n
        return run
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        rt.close()


# -- the ledger alone -----------------------------------------------------


async def _no_usage(now: datetime, reset_at: datetime) -> Recounted:
    return Recounted({}, {})


def _reserver(kind: str, url: str, seconds: float, start: Event, out: Any) -> None:
    async def main() -> int:
        db = Database.open(url, migrate_schema=False) if kind == "sql" else None
        ledger: QuotaLedger = SqlLedger(db) if db is not None else RedisLedger.open(url, _no_usage)
        now = datetime.now(UTC)
        w = windows_at(now)
        await ledger.reserve(1, w, Caps(10**12), 1, now)  # connected, counters whole
        out.put("ready")
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        deadline = time.monotonic() + seconds
        count = 0

        async def task() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                await ledger.reserve(1 + count % 3, w, Caps(10**12), 1, now)
                count += 1

        await asyncio.gather(*(task() for _ in range(16)))
        if isinstance(ledger, RedisLedger):
            ledger.close()
        if db is not None:
            db.close()
        return count

    out.put(asyncio.run(main()))


def reservations_per_second(kind: str, url: str, processes: int, seconds: float = 4.0) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_reserver, args=(kind, url, seconds, start, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        out.get(timeout=60)
    start.set()
    total = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    return total / seconds


def redis_benchmark(url: str, *command: str, requests: int = 200_000) -> float:
    """Requests per second redis-benchmark reaches (50 clients, no pipelining)."""
    port = str(make_url(url).port)
    out = subprocess.run(
        ["redis-benchmark", "-p", port, "-n", str(requests), "-c", "50", "--csv", *command],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.findall(r'^"[^"]+","([\d.]+)"', out, re.MULTILINE)[-1])


def script_benchmark(url: str, requests: int = 200_000) -> float:
    """reserve.lua itself, driven by redis-benchmark exactly as INCR is."""
    ledger = RedisLedger.open(url, _no_usage, prefix="rb")
    try:
        run_id = ledger.client.info("server")["run_id"]
        keys = Keys("rb")
        ledger.client.set(keys.ready, run_id)
        sha = ledger.client.script_load(
            (Path(__file__).parents[1] / "sendpool/store/redis_lua/reserve.lua").read_text()
        )
        now = datetime.now(UTC)
        w = windows_at(now)
        expire = str(int((w.day.end + timedelta(days=1)).timestamp() * 1000))
        return redis_benchmark(
            url,
            "EVALSHA",
            sha,
            "6",
            keys.counter(1, w.day),
            keys.counter(1, w.hour),
            keys.rate(1),
            keys.ready,
            keys.held,
            keys.group_rate(1, ""),
            "1",  # one unit, no message ids: the counters alone, as INCR is
            str(10**12),
            "-1",
            "10000000",
            repr(now.timestamp()),
            expire,
            expire,
            str(int(now.timestamp() * 1000)),
            "0",
            "0",
            requests=requests,
        )
    finally:
        ledger.close()


# -- the report -------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--sql-ledger", action="store_true", help="also run PostgreSQL with the SQL ledger"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the fastest is shown")
    args = parser.parse_args()
    n = args.messages
    key = os.environ.get("SENDPOOL_SECRET_KEY")
    runs: list[Run] = []
    source, sessions = 0.0, 0
    with smtp_sink() as port, private_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        console.print(
            f"smtp-sink on 127.0.0.1:{port}; {n:,} messages of about 5 KB per run; 2 cores"
        )
        source, sessions = best_smtp_source(port, n, 5000)
        plans = [("SQLite, embedded", 1, "sqlite")]  # (mode, workers, database)
        plans += [("PostgreSQL + Redis", k, "postgresql") for k in args.workers]
        if args.sql_ledger:
            plans += [("PostgreSQL, SQL ledger", max(args.workers), "postgresql")]
        for mode, k, kind in plans:
            best: Run | None = None
            for _ in range(args.repeat):
                with database(kind, scratch_name("sendpool_bench"), directory=tmp) as url:
                    redis = redis_url if "Redis" in mode else None
                    if redis:
                        subprocess.run(
                            ["redis-cli", "-p", str(make_url(redis).port), "flushall"],
                            check=True,
                            capture_output=True,
                        )
                    settings = Settings(database_url=url, redis_url=redis, secret_key=key)
                    run = timed_run(mode, settings, k, port, n)
                    console.print(f"  {mode} x{k}: {run.rate:,.0f} msg/s")
                    best = run if best is None or run.rate > best.rate else best
            assert best is not None
            runs.append(best)
        incr = redis_benchmark(redis_url, "-t", "incr")
        script = script_benchmark(redis_url)
        py_redis = reservations_per_second("redis", redis_url, 4)
        with database("postgresql", scratch_name("sendpool_bench")) as url:
            Database.open(url).close()
            py_sql = reservations_per_second("sql", url, 4)

    base = runs[0].rate
    t = Table(title=f"sendpool throughput to smtp-sink, {n:,} messages, 3 servers")
    for col in ("mode", "worker processes", "msg/s", "vs embedded SQLite"):
        t.add_column(col, justify="right" if col != "mode" else "left")
    ceiling = f"smtp-source ({sessions} sessions, ceiling)"
    t.add_row(ceiling, "-", f"{source:,.0f}", f"{source / base:.2f}")
    for r in runs:
        t.add_row(r.mode, str(r.workers), f"{r.rate:,.0f}", f"{r.rate / base:.2f}")
    console.print(t)
    pg = [r for r in runs if r.stored]
    if pg:
        wt = Table(
            title="PostgreSQL cost per message (WAL is cluster-wide: other activity adds to it)"
        )
        for col in (
            "mode",
            "worker processes",
            "WAL at launch",
            "WAL while sending",
            "messages table + indexes",
        ):
            wt.add_column(col, justify="right" if col != "mode" else "left")
        for r in pg:
            wt.add_row(
                r.mode,
                str(r.workers),
                f"{r.wal_launch:,.0f} B",
                f"{r.wal_send:,.0f} B",
                f"{r.stored:,.0f} B",
            )
        console.print(wt)
    lt = Table(title="quota ledger: reservations per second on this machine")
    for col in ("measure", "ops/s", "ratio to INCR"):
        lt.add_column(col, justify="right" if col != "measure" else "left")
    lt.add_row("redis-benchmark INCR (50 clients)", f"{incr:,.0f}", "1.000")
    lt.add_row(
        "reserve.lua via redis-benchmark (50 clients)", f"{script:,.0f}", f"{script / incr:.3f}"
    )
    lt.add_row(
        "RedisLedger.reserve, 4 processes x 16 tasks", f"{py_redis:,.0f}", f"{py_redis / incr:.3f}"
    )
    lt.add_row("SqlLedger.reserve on PostgreSQL, 4 x 16", f"{py_sql:,.0f}", f"{py_sql / incr:.3f}")
    lt.caption = (
        "one reservation takes a whole batch's share of a server (up to batch_size messages)"
    )
    console.print(lt)


if __name__ == "__main__":
    main()
