"""Throughput of the whole pipeline to smtp-sink, beside smtp-source on the same sink.

    make bench                      # 20,000 messages of about 5 KB, then a 200,000 launch
    .venv/bin/python bench/pipeline.py --messages 5000 --launch 0

Launch is excluded from the timed part: the clock runs from the first claim
until every message is recorded as sent in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from campaign import prepare
from content import HTML, SUBJECT, TEXT
from rich.console import Console
from rich.table import Table
from sinks import smtp_sink, smtp_source_rate

from sendpool.config import Settings
from sendpool.pipeline.embedded import run_async
from sendpool.runtime import Runtime
from sendpool.services.campaigns.launch import launch
from sendpool.services.campaigns.report import campaign_report
from sendpool.store.catalog import live_workers

console = Console()
CPU_SECONDS = 0.0


def send_with_processes(
    rt: Runtime, db_url: str, campaign_id: int, uid: str, processes: int
) -> tuple[float, dict[str, int]]:
    """Start ``sendpool worker`` processes, wait until they are up, then launch and time it.

    Here the launch is inside the timed part (the workers send while it runs).
    """
    env = {**os.environ, "SENDPOOL_DATABASE_URL": db_url, "SENDPOOL_POLL_INTERVAL": "0.05"}
    exe = str(Path(sys.executable).with_name("sendpool"))
    procs = [
        subprocess.Popen([exe, "worker"], env=env, stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    try:
        while rt.db.transaction(live_workers, datetime.now(UTC)) < processes:
            time.sleep(0.1)
        started = time.perf_counter()
        launch(rt.db.engine, campaign_id, datetime.now(UTC))
        while True:
            time.sleep(0.5)
            report = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
            if report.settled:
                return time.perf_counter() - started, report.by_status
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)


async def send_all(rt: Runtime, uid: str, n: int) -> tuple[float, dict[str, int], int]:
    worker = rt.worker(health_checks=False)
    stop = asyncio.Event()
    cpu_started = time.process_time()
    started = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    while True:
        await asyncio.sleep(0.5)
        report = await rt.db.run(campaign_report, uid, datetime.now(UTC))
        if report.settled:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    global CPU_SECONDS
    CPU_SECONDS = time.process_time() - cpu_started
    return elapsed, report.by_status, sum(report.by_server.values())


def message_size(rt: Runtime) -> int:
    from sendpool.content.render import CampaignTemplate

    tpl = CampaignTemplate(
        subject=SUBJECT,
        from_email="news@example.com",
        from_name="Example Shop",
        text_body=TEXT,
        html_body=HTML,
    )
    msg = tpl.render(
        uid="0" * 32,
        recipient="reader1@example.com",
        fields={"first_name": "Reader1"},
        date="Fri, 27 Nov 2026 12:00:00 +0000",
    )
    return len(msg.mime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument(
        "--processes", type=int, default=2, help="also time N `sendpool worker` processes (0 skips)"
    )
    parser.add_argument(
        "--launch", type=int, default=200_000, help="list size for the launch/RSS figure (0 skips)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", secret_key=None)
        rt = Runtime.open(settings)
        size = message_size(rt)
        with smtp_sink() as port:
            console.print(
                f"smtp-sink on 127.0.0.1:{port}; {args.messages:,} messages of {size:,} bytes"
            )
            source = smtp_source_rate(port, args.messages, size)
            _, uid, launch_ms = prepare(rt, port, args.messages, args.servers)
            elapsed, by_status, recorded = run_async(send_all(rt, uid, args.messages))
            multi = None
            if args.processes:
                url2 = f"sqlite:///{tmp}/bench-multi.db"
                rt2 = Runtime.open(
                    Settings(database_url=url2, secret_key=settings.secret_key or None)
                )
                cid2, uid2, _ = prepare(rt2, port, args.messages, args.servers, launch_now=False)
                multi = send_with_processes(rt2, url2, cid2, uid2, args.processes)
                rt2.close()
        rt.close()
    rate = args.messages / elapsed
    table = Table(title="sendpool pipeline vs smtp-source, to smtp-sink on loopback")
    table.add_column("sender")
    table.add_column("messages", justify="right")
    table.add_column("msg/s", justify="right")
    table.add_row("smtp-source (20 sessions)", f"{args.messages:,}", f"{source:,.0f}")
    table.add_row(
        f"sendpool pipeline ({args.servers} servers, 1 worker)", f"{recorded:,}", f"{rate:,.0f}"
    )
    if multi is not None:
        table.add_row(
            f"sendpool pipeline, {args.processes} worker processes (launch timed too)",
            f"{multi[1].get('sent', 0):,}",
            f"{args.messages / multi[0]:,.0f}",
        )
    table.caption = (
        f"pipeline / smtp-source = {rate / source:.2f}; statuses {by_status}; "
        f"launch of {args.messages:,} took {launch_ms} ms (not timed); the worker process used "
        f"{CPU_SECONDS:.1f} CPU s, {args.messages / max(CPU_SECONDS, 1e-9):,.0f} messages per CPU second"
    )
    console.print(table)
    if by_status != {"sent": args.messages} or (
        multi is not None and multi[1] != {"sent": args.messages}
    ):
        raise SystemExit(f"not every message was recorded as sent: {by_status}")
    if args.launch:
        console.print(f"launching a {args.launch:,}-subscriber list in a fresh process ...")
        out = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("launch_rss.py")), str(args.launch)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        t = Table(title=f"launch of a {args.launch:,}-subscriber list (SQLite)")
        for col in ("import", "launch", "peak RSS", "RSS after import"):
            t.add_column(col, justify="right")
        t.add_row(
            f"{figures['import_s']:.1f} s",
            f"{figures['launch_s']:.1f} s",
            f"{figures['rss_peak_mb']:.0f} MB",
            f"{figures['rss_after_import_mb']:.0f} MB",
        )
        console.print(t)


if __name__ == "__main__":
    main()
