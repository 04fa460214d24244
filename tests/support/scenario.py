"""Set up pools and campaigns in a few lines, through the same services the CLI uses."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sendpool.pipeline.worker import Worker
from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import run_from_csv
from sendpool.services.campaigns.report import CampaignReport, campaign_report
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.sinks import SmtpSink


def smtp_server(name: str, port: int, limit: int = 100_000, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "encryption": "none",
        "sending_limit": limit,
        **extra,
    }


def apply(rt: Runtime, data: dict[str, Any], env: dict[str, str] | None = None) -> None:
    pool, decls = parse_pool(data, env or {})
    rt.db.transaction(apply_pool, pool, decls, rt.box)


def pool_of_sinks(
    rt: Runtime, sinks: Sequence[SmtpSink], *, limits: Sequence[int] | None = None, **extra: Any
) -> None:
    limits = limits or [100_000] * len(sinks)
    apply(
        rt,
        {
            "servers": [
                smtp_server(s.name, s.port, lim, **extra)
                for s, lim in zip(sinks, limits, strict=True)
            ],
            "plans": [{"name": "P", "servers": [s.name for s in sinks]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )


def recipients_csv(n: int, start: int = 0) -> str:
    return "email,first_name\n" + "".join(
        f"user{i}@example.com,User{i}\n" for i in range(start, start + n)
    )


def make_campaign(
    rt: Runtime,
    n: int,
    *,
    customer: str = "acme",
    subject: str = "Hello {{ first_name }}",
    text: str = "Hi {{ first_name }},\n.a line that starts with a dot\n",
    html: str | None = None,
    csv: str | None = None,
    plan: str | None = None,
    launched: bool = True,
    sender: str = "news@example.com",
) -> tuple[int, str]:
    """A list of ``n`` recipients and a campaign to it, launched unless told otherwise.

    ``sender`` must be on one of the customer's sending domains (``pool_of_sinks``
    gives acme example.com).
    """
    now = datetime.now(UTC)
    made = run_from_csv(
        engine=rt.db.engine,
        customer=customer,
        csv=io.StringIO(csv if csv is not None else recipients_csv(n)),
        draft=CampaignDraft("c", subject, sender, None, None, text, html),
        public_url="http://x",
        now=now,
        plan=plan,
        list_name=f"list {now.timestamp()}",
        launch_now=launched,
    )
    return made.campaign_id, made.uid


async def report(rt: Runtime, uid: str) -> CampaignReport:
    return await rt.db.run(campaign_report, uid, datetime.now(UTC))


async def send_until_settled(
    rt: Runtime, uid: str, workers: Sequence[Worker] | None = None, timeout: float = 120.0
) -> CampaignReport:
    """Run workers until the campaign settles; fail the test if it never does."""
    workers = list(workers) if workers is not None else [rt.worker()]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        async with asyncio.timeout(timeout):
            while True:
                await asyncio.sleep(0.05)
                for t in tasks:
                    if t.done():
                        t.result()
                r = await report(rt, uid)
                if r.settled:
                    return r
    finally:
        stop.set()
        await asyncio.gather(*tasks)
