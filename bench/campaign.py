"""The benchmarks' setup: a pool of smtp-sink servers and a campaign queued on it."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

from content import HTML, SUBJECT, TEXT, csv_lines

from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import CsvCampaign, run_from_csv
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
            "customers": [{"name": "bench", "plan": "Bench", "sending_domains": ["example.com"]}],
        },
        {},
    )
    rt.db.transaction(apply_pool, pool, decls, rt.box)
    started = 0.0

    def start_clock(_created: CsvCampaign) -> None:
        nonlocal started
        started = time.perf_counter()

    made = run_from_csv(
        engine=rt.db.engine,
        customer="bench",
        csv=io.StringIO(csv_lines(n)),
        draft=CampaignDraft("bench", SUBJECT, "news@example.com", "Example Shop", None, TEXT, HTML),
        public_url="http://x",
        now=datetime.now(UTC),
        list_name="bench",
        launch_now=launch_now,
        on_created=start_clock,
    )
    if not launch_now:
        return made.campaign_id, made.uid, 0
    return made.campaign_id, made.uid, int((time.perf_counter() - started) * 1000)
