"""The benchmarks' setup: a pool of smtp-sink servers and a campaign queued on it."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

from content import HTML, SUBJECT, TEXT, csv_lines

from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
from sendpool.services.campaigns.launch import launch
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool


def prepare(
    rt: Runtime, port: int, n: int, servers: int = 3, *, launch_now: bool = True
) -> tuple[int, str, int]:
    """Servers sink-0..N on ``port`` in plan Bench, and a campaign to ``n`` readers.

    Returns the campaign's id and uid, and the launch time in ms (0 when not launched).
    Caps are far above any run, so only the pipeline's own speed is measured.
    """
    names = [f"sink-{i}" for i in range(servers)]
    pool, decls = parse_pool(
        {
            "servers": [
                {
                    "name": name,
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "encryption": "none",
                    "sending_limit": 10_000_000,
                    "max_connections": 4,
                    "helo_name": "bench.sendpool.local",
                }
                for name in names
            ],
            "plans": [{"name": "Bench", "servers": names}],
            "customers": [{"name": "bench", "plan": "Bench"}],
        },
        {},
    )
    rt.db.transaction(apply_pool, pool, decls, rt.box)
    now = datetime.now(UTC)
    draft = check_draft(
        CampaignDraft("bench", SUBJECT, "news@example.com", "Example Shop", None, TEXT, HTML),
        "http://x",
    )

    def create(conn: Any) -> tuple[int, str]:
        list_id = get_or_create_list(conn, 1, "bench", now)
        import_csv(conn, list_id, io.StringIO(csv_lines(n)), now)
        return create_campaign(
            conn, customer_id=1, list_id=list_id, draft=draft, plan_id=None, now=now
        )

    campaign_id, uid = rt.db.transaction(create)
    if not launch_now:
        return campaign_id, uid, 0
    started = time.perf_counter()
    launch(rt.db.engine, campaign_id, now)
    return campaign_id, uid, int((time.perf_counter() - started) * 1000)
