"""Dispatcher picks per second under each routing policy, beside round-robin, in one run.

    .venv/bin/python bench/routing.py                      # 10,000 recipients, 50 domains
    .venv/bin/python bench/routing.py --messages 50000 --rounds 7 --json

The real batch dispatcher (pipeline/dispatch.py) deals --messages virtual
messages, in batches of --batch, to a plan of five servers over the in-memory
quota ledger: filters, the shared cursor, the selector and one reservation per
server and batch, as a worker runs them, with no database and no transport, so
the figure is the dispatcher's own cost. The recipients span --domains domains,
a fifth of them Gmail's, Yahoo's, Outlook's and iCloud's (so provider groups
are found the way a worker finds them) and the rest ordinary domains.

Policies: round-robin (the reference), smooth weighted round-robin (weights
5/3/1/1/1), sticky by recipient domain, sticky by provider group, and
round-robin with per server x provider group throttles on every server for the
four large providers (rates high enough that nothing waits: the cost measured is
the extra grouping and the rate reserved with each batch). A first round is not
counted; each figure is the median of --rounds interleaved rounds, each round in
another order; the ratio is against round-robin in the same rounds, since this
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the in-memory pool rows of the tests
    sys.path.insert(0, str(ROOT))

from sendpool.core.providers import GroupLimits  # noqa: E402
from sendpool.core.servers import SendClass  # noqa: E402
from sendpool.pipeline.dispatch import Dispatcher  # noqa: E402
from sendpool.pipeline.pool import PoolState, view_of  # noqa: E402
from sendpool.pipeline.prepare import Job  # noqa: E402
from sendpool.services.operations.simulation import (  # noqa: E402
    placeholder_message,
    virtual_job,
)
from sendpool.store.ledger_memory import MemoryLedger  # noqa: E402
from sendpool.store.records import PoolRows  # noqa: E402
from tests.support.pool_rows import pool_rows, server_row  # noqa: E402

PLAN = 1
SERVERS = 5
WEIGHTS = {1: 5, 2: 3, 3: 1, 4: 1, 5: 1}
PROVIDERS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")
GROUPS = ("gmail", "yahoo", "outlook", "icloud")
NOW = datetime(2030, 6, 3, 12, tzinfo=UTC)
POLICIES = ("round_robin", "smooth_weighted", "sticky_domain", "sticky_provider", "throttled")


def domains(n: int, count: int) -> list[str]:
    """``n`` recipients over ``count`` domains: the large providers first, Zipf-like shares."""
    own = [f"domain{i}.example" for i in range(max(0, count - len(PROVIDERS)))]
    names = [*PROVIDERS, *own][:count]
    # Zipf-like: the first domains get the most mail, as a real list does.
    out = random.Random(7).choices(names, weights=[1 / (i + 1) for i in range(count)], k=n)
    return out


def rows_for(policy: str) -> PoolRows:
    servers = [server_row(i, f"relay-{i}", sending_limit=10**9) for i in range(1, SERVERS + 1)]
    rows = pool_rows(servers, {PLAN: range(1, SERVERS + 1)})
    selector = "round_robin" if policy == "throttled" else policy
    limits = (
        {
            (sid, g): GroupLimits(rate_per_second=1e6, burst=1e6)
            for sid in range(1, SERVERS + 1)
            for g in GROUPS
        }
        if policy == "throttled"
        else {}
    )
    return replace(
        rows,
        plan_selector={PLAN: selector},
        plan_weights={PLAN: dict(WEIGHTS)} if policy == "smooth_weighted" else {},
        provider_limits=limits,
    )


def jobs_for(recipients: list[str], state: PoolState) -> list[Job]:
    """The virtual messages `sendpool simulate` deals, each with its provider group."""
    body = placeholder_message(NOW)
    groups: dict[str, str | None] = {}
    out = []
    for i, domain in enumerate(recipients):
        job = virtual_job(i + 1, PLAN, SendClass.LOW_VOLUME, body, NOW, domain)
        if domain not in groups:
            groups[domain] = state.group_of(domain)
        job.group = groups[domain]  # as pipeline/prepare.py finds it
        out.append(job)
    return out


async def one_run(policy: str, recipients: list[str], batch: int) -> tuple[float, Counter[str]]:
    """Seconds to deal every message, and how many each server got."""
    rows = rows_for(policy)
    state = PoolState(rows, {r.id: view_of(r) for r in rows.servers}, {})
    jobs = jobs_for(recipients, state)
    dispatcher = Dispatcher(MemoryLedger())
    got: Counter[str] = Counter()
    started = time.perf_counter()
    for k in range(0, len(jobs), batch):
        out = await dispatcher.assign(jobs[k : k + batch], state, NOW)
        if out.waiting:
            raise SystemExit(f"{policy}: {len(out.waiting)} waited: {out.waiting[0].reason}")
        for job in out.ready:
            assert job.server is not None
            got[job.server.name] += 1
    return time.perf_counter() - started, got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100, help="messages per dispatch, as a claim")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON line per policy")
    args = parser.parse_args(argv)
    if args.messages < 100 or not 5 <= args.domains <= 100_000 or args.rounds < 1:
        parser.error("--messages ≥ 100, --domains between 5 and 100,000, --rounds ≥ 1")
    recipients = domains(args.messages, args.domains)
    times: dict[str, list[float]] = {p: [] for p in POLICIES}
    split: dict[str, Counter[str]] = {}
    for policy in POLICIES:  # a round not counted: imports, caches and the period built once
        asyncio.run(one_run(policy, recipients, args.batch))
    for r in range(args.rounds):
        # Interleaved, each round in another order: the machine's noise falls on every policy.
        for policy in POLICIES[r % len(POLICIES) :] + POLICIES[: r % len(POLICIES)]:
            seconds, got = asyncio.run(one_run(policy, recipients, args.batch))
            times[policy].append(seconds)
            split[policy] = got
    ref = statistics.median(times["round_robin"])
    rows = []
    for policy in POLICIES:
        med = statistics.median(times[policy])
        shares = "/".join(str(split[policy][f"relay-{i}"]) for i in range(1, SERVERS + 1))
        rows.append(
            {
                "policy": policy,
                "messages": args.messages,
                "domains": args.domains,
                "picks_per_second": round(args.messages / med),
                "ratio_to_round_robin": round(ref / med, 3),
                "split": shares,
            }
        )
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    t = Table(
        title=f"dispatcher picks per second: {args.messages:,} recipients over "
        f"{args.domains} domains, batches of {args.batch}, median of {args.rounds} rounds"
    )
    for h in ("policy", "picks/s", "× round-robin", "split relay-1..5"):
        t.add_column(h, justify="left" if h == "policy" else "right")
    for r in rows:
        t.add_row(
            str(r["policy"]),
            f"{r['picks_per_second']:,}",
            f"{r['ratio_to_round_robin']:.2f}",
            str(r["split"]),
        )
    t.caption = (
        "smooth_weighted: weights 5/3/1/1/1; throttled: round-robin with a rate per server × "
        "provider group for gmail, yahoo, outlook and icloud on every server"
    )
    Console(width=140).print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
