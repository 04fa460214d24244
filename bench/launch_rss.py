"""Import and launch a large list in a fresh process; print times and peak RSS as JSON.

Run by bench/pipeline.py in its own process, so the peak RSS is this job's alone.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from content import HTML, SUBJECT, TEXT, csv_lines

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
from sendpool.services.campaigns.launch import launch
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "list.csv"
        csv_path.write_text(csv_lines(n))
        rt = Runtime.open(Settings(database_url=f"sqlite:///{tmp}/launch.db", secret_key=None))
        pool, decls = parse_pool(
            {
                "servers": [{"name": "s", "type": "smtp", "host": "127.0.0.1", "sending_limit": 1}],
                "plans": [{"name": "P", "servers": ["s"]}],
                "customers": [{"name": "c", "plan": "P", "sending_domains": ["example.com"]}],
            },
            {},
        )
        rt.db.transaction(apply_pool, pool, decls, rt.box)
        now = datetime.now(UTC)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with rt.db.engine.begin() as conn, csv_path.open("rb") as fh:
            list_id = get_or_create_list(conn, 1, "big", now)
            report = import_csv(conn, list_id, fh, now)
        imported = time.perf_counter() - started
        draft = check_draft(
            CampaignDraft("big", SUBJECT, "news@example.com", None, None, TEXT, HTML), "http://x"
        )
        campaign_id, _ = rt.db.transaction(
            lambda c: create_campaign(
                c, customer_id=1, list_id=list_id, draft=draft, plan_id=None, now=now
            )
        )
        rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        queued = launch(rt.db.engine, campaign_id, now)
        launched = time.perf_counter() - started
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rt.close()
    print(
        json.dumps(
            {
                "subscribers": report.rows,
                "queued": queued,
                "import_s": imported,
                "launch_s": launched,
                "rss_start_mb": rss_before / 1024,
                "rss_after_import_mb": rss_after_import / 1024,
                "rss_peak_mb": rss_peak / 1024,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
