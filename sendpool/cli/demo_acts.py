"""The acts of ``sendpool demo``: local SMTP sinks, a pool applied to them, campaigns sent.

Act 1 sends one campaign through three equal servers and shows the even
split and the per-message log. Act 2 adds a warming server and a server with
a small daily cap, and shows where the messages went and why.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from sendpool.cli.campaign import follow
from sendpool.cli.common import console
from sendpool.config import Settings
from sendpool.core.states import SETTLED_MESSAGE_STATES
from sendpool.pipeline.embedded import work_until
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import run_from_csv
from sendpool.services.messages.log import (
    count_by_status,
    message_log,
    sent_by_server,
    skip_reasons,
)
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.sinks import SmtpSink

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Tim",
    "Hedy",
    "Linus",
    "Sophie",
    "Guido",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Torvalds",
    "Wilson",
]

TEXT = """Hello {{ first_name }},

Autumn is here, and so is our newsletter.
Read it online: https://example.com/news

-- The Example Shop
"""
HTML = """<p>Hello {{ first_name }},</p>
<p>Autumn is here, and so is our newsletter.</p>
<p><a href="https://example.com/news">Read it online</a></p>
"""


def subscribers_csv(n: int, seed: int) -> io.BytesIO:
    rng = random.Random(seed)
    lines = ["email,first_name,last_name"]
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        lines.append(f"{first.lower()}.{last.lower()}.{i}@example.com,{first},{last}")
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def apply(rt: Runtime, data: dict[str, Any]) -> None:
    pool, decls = parse_pool(data, {})
    rt.db.transaction(apply_pool, pool, decls, rt.box)


def smtp(name: str, sink: SmtpSink, limit: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "smtp",
        "host": "127.0.0.1",
        "port": sink.port,
        "encryption": "none",
        "sending_limit": limit,
        "max_connections": 2,
        **extra,
    }


def start_campaign(
    rt: Runtime, customer: str, n: int, seed: int, name: str, sender: str
) -> tuple[int, str]:
    made = run_from_csv(
        engine=rt.db.engine,
        customer=customer,
        csv=subscribers_csv(n, seed),
        draft=CampaignDraft(
            name,
            "{{ first_name }}, our autumn news",
            sender,
            "Example Shop",
            None,
            TEXT,
            HTML,
        ),
        public_url=rt.settings.public_url,
        now=datetime.now(UTC),
        list_name=name,
    )
    return made.campaign_id, made.uid


async def act_one(rt: Runtime, n: int) -> None:
    console.rule("[bold]Act 1: one plan, three equal servers")
    sinks = [await SmtpSink(name).start() for name in ("relay-a", "relay-b", "relay-c")]
    apply(
        rt,
        {
            "servers": [smtp(s.name, s, 10_000) for s in sinks],
            "plans": [{"name": "Newsletter", "servers": [s.name for s in sinks]}],
            "customers": [
                {"name": "example-shop", "plan": "Newsletter", "sending_domains": ["example.com"]}
            ],
        },
    )
    console.print(
        f"Three local SMTP sinks on 127.0.0.1 (ports {', '.join(str(s.port) for s in sinks)}), "
        f"one plan, {n:,} subscribers, one campaign."
    )
    campaign_id, uid = start_campaign(
        rt, "example-shop", n, 1, "Autumn newsletter", "news@example.com"
    )
    report = await follow(rt, uid, show=True, external=False)
    received = {s.name: s.count for s in sinks}
    table = Table(title=f"campaign {report.name}: {report.status}")
    for col in ("server", "sent (per-message log)", "received by its sink", "share"):
        table.add_column(col, justify="left" if col == "server" else "right")
    total = sum(report.by_server.values()) or 1
    for name in sorted(received):
        sent = report.by_server.get(name, 0)
        table.add_row(name, f"{sent:,}", f"{received[name]:,}", f"{100 * sent / total:.1f} %")
    console.print(table)
    ids: Counter[str] = Counter()
    for s in sinks:
        ids.update(s.handler.message_ids)
    doubles = sum(1 for c in ids.values() if c > 1)
    console.print(
        f"{sum(received.values()):,} messages arrived, {len(ids):,} distinct Message-IDs, "
        f"{doubles} sent twice."
    )
    log = await rt.db.run(lambda c: message_log(c, campaign_id=campaign_id, limit=8))
    t = Table(title="per-message log (first 8 of the campaign)")
    t.add_column("recipient", no_wrap=True)
    t.add_column("server used", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("Message-ID", overflow="ellipsis", no_wrap=True, max_width=24)
    for r in log:
        t.add_row(r.recipient, r.server or "-", r.status, r.message_id or "-")
    console.print(t)
    for s in sinks:
        await s.stop()


async def act_two(rt: Runtime, n: int) -> None:
    console.rule("[bold]Act 2: a warming server and a small daily cap")
    main, warm, small = [
        await SmtpSink(x).start() for x in ("relay-main", "relay-warm", "relay-small")
    ]
    today = datetime.now(UTC).date().isoformat()
    # The story is told at 3,000 subscribers; smaller demos scale every figure down.
    scale = n / 3000
    warm_cap, small_cap = max(3, round(300 * scale)), max(5, round(400 * scale))
    burst_at, txn = max(2, round(2000 * scale)), max(4, round(400 * scale))
    apply(
        rt,
        {
            "servers": [
                smtp("relay-main", main, 10_000),
                smtp(
                    "relay-warm",
                    warm,
                    10_000,
                    warmup={
                        "start_daily": warm_cap,
                        "growth_percent": 50,
                        "target_daily": 20_000,
                        "started_on": today,
                    },
                ),
                smtp("relay-small", small, small_cap),
            ],
            "plans": [
                {
                    "name": "Mixed",
                    "servers": ["relay-main", "relay-warm", "relay-small"],
                    "burst_threshold": burst_at,
                }
            ],
            # A domain belongs to one customer: this one sends from a domain of its own.
            "customers": [
                {"name": "example-news", "plan": "Mixed", "sending_domains": ["example.net"]}
            ],
        },
    )
    console.print(
        f"relay-warm is warming up ({warm_cap:,} today, +50 %/day to 20,000); "
        f"relay-small may send {small_cap:,} a day.\n"
        f"The plan calls a send of {burst_at:,}+ recipients a burst. First a {n:,}-recipient "
        f"campaign (a burst), then {txn:,} transactional messages (low-volume)."
    )
    campaign_id, uid = start_campaign(rt, "example-news", n, 2, "Winter sale", "news@example.net")
    await follow(rt, uid, show=True, external=False)
    burst = await rt.db.run(lambda c: sent_by_server(c, campaign_id=campaign_id))

    def enqueue(conn: Any) -> None:
        customer_id = refs.customer_id(conn, "example-news")
        now = datetime.now(UTC)
        for i in range(txn):
            enqueue_transactional(
                conn,
                customer_id=customer_id,
                to=f"buyer{i}@example.com",
                subject="Your order #{{ order }}",
                from_email="orders@example.net",
                text="Thanks for order #{{ order }}.\n",
                fields={"order": 1000 + i},
                now=now,
            )

    await rt.db.run(enqueue)

    async def transactional_settled() -> bool:
        counts = await rt.db.run(lambda c: count_by_status(c, kind="transactional"))
        return sum(counts.get(s, 0) for s in SETTLED_MESSAGE_STATES) >= txn

    await work_until(rt.worker(), transactional_settled)
    low = await rt.db.run(lambda c: sent_by_server(c, kind="transactional"))
    table = Table(title="where the messages went")
    table.add_column("server")
    table.add_column("role")
    table.add_column("burst campaign", justify="right")
    table.add_column("transactional", justify="right")
    roles = {
        "relay-main": "daily cap 10,000",
        "relay-warm": f"warming: {warm_cap:,} today",
        "relay-small": f"daily cap {small_cap:,}",
    }
    for name, role in roles.items():
        table.add_row(name, role, f"{burst.get(name, 0):,}", f"{low.get(name, 0):,}")
    console.print(table)
    plan_id = await rt.db.run(lambda c: refs.plan_id(c, "Mixed"))
    reasons = await rt.db.run(lambda c: skip_reasons(c, plan_id))
    t = Table(title="why servers were skipped (as the dispatcher said it)")
    t.add_column("server")
    t.add_column("reason")
    t.add_column("messages", justify="right")
    for r in reasons:
        t.add_row(r.server, r.reason, f"{r.messages:,}")
    console.print(t)
    console.print(
        Panel(
            "Burst sends skip warming servers, so relay-warm sent none of the campaign; relay-small "
            "stopped at its cap and relay-main took the rest. Transactional mail went to relay-warm "
            "first, until its warm-up cap for today was used.",
            title="reading it",
        )
    )
    for s in (main, warm, small):
        await s.stop()


async def run_demo(db: Path, n: int) -> None:
    settings = Settings(database_url=f"sqlite:///{db}", poll_interval=0.05, secret_key=None)
    rt = Runtime.open(settings)
    try:
        await act_one(rt, n)
        await act_two(rt, n)
    finally:
        rt.close()
