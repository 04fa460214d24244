"""Latency of every admin and API read at 1 M and 10 M messages, through the HTTP routes.

    .venv/bin/python bench/reads.py                                # PostgreSQL, 1 M then 10 M
    .venv/bin/python bench/reads.py --db sqlite --sizes 1000000
    .venv/bin/python bench/reads.py --sizes 1000000 --rounds 50 --pg-name my_scratch

A scratch database (PostgreSQL: created and dropped here; SQLite: a temporary
file) is built by sendpool's own migrations and seeded with two tenants, five
servers and an admin through the services, then filled in SQL (bench/reads_fill.py)
up to each size in turn, the rollups' deltas folded after each fill as the
scheduler would (where the schema has rollups). Each read is a request to the real app in process
(httpx.ASGITransport): routing, the service's queries and serialisation all
count. Reads are interleaved: every round calls each read once, in a shuffled
order; one round first is not counted. Rounds stop early past --budget seconds
per size, so a read that scans the table cannot hold the run forever; the
"rounds" key says how many were counted. Each figure is a JSON line on stdout
(``read_p50_ms`` and ``read_p99_ms`` with "read", "messages" and "db" keys);
progress and a table go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the seeded world of the API tests; PYTHONPATH still wins
    sys.path.append(str(ROOT))

from databases import database  # noqa: E402
from reads_fill import Fixture, fill, make_campaigns, recipient_of, tenant_a_address  # noqa: E402

from sendpool.config import Settings  # noqa: E402
from sendpool.http.app import create_app  # noqa: E402
from sendpool.runtime import Runtime  # noqa: E402
from sendpool.services.access import admins  # noqa: E402
from tests.support.world import seed_world  # noqa: E402

console = Console(stderr=True, width=110)
EMAIL, PASSWORD = "bench@example.com", "a long bench password"
API = "/api/v1"
BYTES_PER_MESSAGE = 1500  # rows, indexes and events on PostgreSQL, with room to spare


@dataclass(frozen=True)
class Read:
    name: str
    client: str  # "admin" (bearer), "tenant" (bearer) or "page" (signed-in session)
    url: str
    params: dict[str, str] | None = None


def reads(ids: dict[str, str], fx: Fixture, n: int) -> list[Read]:
    big = fx.campaigns[2][1]  # a tenant-a campaign being sent
    who = recipient_of(n)
    prefix = who[: len(who.split("@")[0]) - 1]  # "user1234" for user12345@...
    return [
        Read("server_stats", "admin", f"{API}/admin/sending-servers/{ids['server_smtp']}/stats"),
        Read("pool_api", "admin", f"{API}/admin/pool"),
        Read("campaign_progress", "tenant", f"{API}/campaigns/{big}"),
        Read("campaign_list", "tenant", f"{API}/campaigns"),
        Read("campaign_log", "tenant", f"{API}/campaigns/{big}/messages"),
        Read("log_search_exact", "tenant", f"{API}/messages", {"recipient": who, "match": "exact"}),
        Read("log_search_prefix", "tenant", f"{API}/messages", {"recipient": prefix}),
        Read("metrics", "anon", "/metrics"),
        Read("pool_page", "page", "/admin/pool"),
        Read("campaigns_page", "page", "/admin/campaigns"),
        Read("campaign_page", "page", f"/admin/campaigns/{big}"),
        Read("distribution_page", "page", "/admin/distribution"),
    ]


async def signed_in(app_transport: httpx.ASGITransport) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=app_transport, base_url="http://sendpool.test")
    login = (await client.get("/admin/login")).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert found is not None, "no CSRF token on the login page"
    form = {"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1)}
    r = await client.post("/admin/login", data=form)
    assert r.status_code in (200, 303), f"sign-in failed: {r.status_code}"
    return client


async def measure(
    rt: Runtime, tokens: dict[str, str], todo: list[Read], rounds: int, budget: float
) -> dict[str, list[float]]:
    transport = httpx.ASGITransport(app=create_app(rt))
    base = "http://sendpool.test"
    clients = {
        "admin": httpx.AsyncClient(
            transport=transport,
            base_url=base,
            headers={"Authorization": f"Bearer {tokens['admin']}"},
        ),
        "tenant": httpx.AsyncClient(
            transport=transport, base_url=base, headers={"Authorization": f"Bearer {tokens['a']}"}
        ),
        "anon": httpx.AsyncClient(transport=transport, base_url=base),
        "page": await signed_in(transport),
    }
    times: dict[str, list[float]] = {r.name: [] for r in todo}
    order = list(todo)
    shuffle = random.Random(7)
    began = time.perf_counter()
    try:
        for round_no in range(rounds + 1):  # round 0 warms caches and is not counted
            shuffle.shuffle(order)
            for read in order:
                started = time.perf_counter()
                r = await clients[read.client].get(read.url, params=read.params)
                took = time.perf_counter() - started
                if r.status_code != 200:
                    raise SystemExit(f"{read.name}: HTTP {r.status_code}: {r.text[:300]}")
                if round_no:
                    times[read.name].append(took * 1000)
                elif "items" in (
                    body := r.json()
                    if r.headers["content-type"].startswith("application/json")
                    else {}
                ):
                    console.print(f"  {read.name}: {len(body['items'])} rows")
            spent = time.perf_counter() - began
            if round_no % 10 == 0:
                console.print(f"  round {round_no}/{rounds} ({spent:.0f} s)")
            if round_no and spent > budget:
                console.print(f"  budget of {budget:.0f} s spent after {round_no} rounds")
                break
    finally:
        for c in clients.values():
            await c.aclose()
    return times


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(times: dict[str, list[float]], size: int, db: str) -> None:
    table = Table(title=f"reads at {size:,} messages on {db} (ms)")
    for col in ("read", "p50", "p99", "mean", "rounds"):
        table.add_column(col, justify="left" if col == "read" else "right")
    for name, ms in times.items():
        p50, p99 = quantile(ms, 0.5), quantile(ms, 0.99)
        for figure, value in (("read_p50_ms", p50), ("read_p99_ms", p99)):
            line = (
                f'{{"bench": "reads", "figure": "{figure}", "value": {value:.2f}, "unit": "ms", '
                f'"read": "{name}", "messages": {size}, "db": "{db}", "rounds": {len(ms)}}}'
            )
            print(line, flush=True)
        table.add_row(name, f"{p50:.1f}", f"{p99:.1f}", f"{statistics.fmean(ms):.1f}", str(len(ms)))
    console.print(table)


def enough_disk(size: int) -> bool:
    free = shutil.disk_usage("/").free
    need = size * BYTES_PER_MESSAGE
    if free < need:
        console.print(f"[red]skipping {size:,}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} needed")
    return free >= need


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000000,10000000", help="comma-separated message counts")
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--rounds", type=int, default=100, help="counted rounds per size")
    p.add_argument("--budget", type=float, default=900.0, help="seconds of rounds per size")
    p.add_argument("--pg-name", default="sendpool_bench_reads", help="scratch database name")
    p.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database afterwards, to look into"
    )
    args = p.parse_args()
    try:
        sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    except ValueError:
        p.error(f"--sizes must be whole numbers separated by commas, not {args.sizes!r}")
    if not sizes or sizes[0] < 1 or args.rounds < 1:
        p.error("--sizes must be positive and --rounds at least 1")

    with database(args.db, args.pg_name, keep=args.keep) as url:
        settings = Settings(database_url=url, secret_key=_key())  # type: ignore[call-arg]
        rt = Runtime.open(settings)  # migrates: the schema is the real one
        try:
            now = datetime.now(UTC)
            ids, tokens, _ = seed_world(rt)
            rt.db.transaction(
                admins.create_admin,
                email=EMAIL,
                password_hash=admins.hash_password(PASSWORD),
                actor="bench",
                now=now,
            )
            fx = make_campaigns(rt, now)
            filled = 0
            for size in sizes:
                if not enough_disk(size - filled):
                    break
                console.print(f"filling {args.db} to {size:,} messages")
                fill(rt, fx, filled + 1, size + 1, now)
                filled = size
                console.print(f"measuring {len(reads(ids, fx, 1))} reads, {args.rounds} rounds")
                todo = reads(ids, fx, tenant_a_address(12_345))
                # The fill's objects are the bench's own, not a server's: kept out of the
                # collector's full passes, as `serve` keeps what its start-up made.
                gc.collect()
                gc.freeze()
                times = asyncio.run(measure(rt, tokens, todo, args.rounds, args.budget))
                report(times, size, args.db)
        finally:
            rt.close()


def _key() -> str:
    """SENDPOOL_SECRET_KEY when set (to open a kept database later), else a new one."""
    from cryptography.fernet import Fernet

    return os.environ.get("SENDPOOL_SECRET_KEY") or Fernet.generate_key().decode()


if __name__ == "__main__":
    main()
