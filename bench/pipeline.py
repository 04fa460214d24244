"""Throughput of one worker to smtp-sink, beside smtp-source and two bare sender loops.

    make bench                              # 20,000 messages of about 5 KB, 3 rounds
    .venv/bin/python bench/pipeline.py --messages 5000 --rounds 3 --processes 0 --launch 0
    .venv/bin/python bench/pipeline.py --baseline /path/to/an/older/tree   # both, interleaved
    .venv/bin/python bench/pipeline.py --database postgresql --processes 0 --launch 0

Every sender runs alone on one core (smtp-sink on the other): smtp-source with
connection reuse at its best session count, the bare aiosmtplib loop, sendpool's
own SMTP transport in the same loop (bench/sinks.py), and the worker, each
in a process of its own, in a different order each round after one round that
is not counted. The worker's time runs from just before it starts to the
``updated_at`` of the last message it wrote back, read from the database after
the run, so no polling interval is in it; the campaign's launch is not timed.
Each figure is the median over the rounds, ratios taken within each round.
The worker's database is a SQLite file, or with ``--database postgresql`` a
scratch database on the local PostgreSQL (not pinned: it shares the other
core with smtp-sink, as a database on the same machine would).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from content import HTML, SUBJECT, TEXT
from databases import database, scratch_name
from sinks import (
    SENDER_CORE,
    bare_loop_rate,
    best_smtp_source,
    pin,
    smtp_sink,
    transport_loop_rate,
)

BENCH = "pipeline"
CONNECTIONS_PER_SERVER = 4  # bench/campaign.py gives each sink server this many


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def figure(name: str, value: float, unit: str, **extra: object) -> None:
    line = {"bench": BENCH, "figure": name, "value": round(value, 3), "unit": unit, **extra}
    print(json.dumps(line), flush=True)


def sample_mime() -> bytes:
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
    return msg.mime


def last_write_back(rt: object, campaign_id: int) -> datetime:
    """When the campaign's last message was written back, as the database recorded it."""
    from sqlalchemy import select

    from sendpool.store.tables import Message

    def read(conn: object) -> datetime:
        stmt = (
            select(Message.updated_at)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.updated_at.desc())
            .limit(1)
        )
        return conn.execute(stmt).scalar_one()  # type: ignore[attr-defined,no-any-return]

    return rt.db.transaction(read)  # type: ignore[attr-defined,no-any-return]


# -- one round of the worker, in a process of its own ------------------------------------


def worker_round(
    port: int, n: int, servers: int, profile: str | None, kind: str = "sqlite"
) -> dict[str, object]:
    import asyncio

    from campaign import prepare

    from sendpool.config import Settings
    from sendpool.pipeline.embedded import run_async
    from sendpool.runtime import Runtime
    from sendpool.services.campaigns.report import campaign_report

    pin(SENDER_CORE)
    with database(kind, scratch_name("sendpool_bench_worker")) as url:
        rt = Runtime.open(Settings(database_url=url, secret_key=None))
        campaign_id, uid, _ = prepare(rt, port, n, servers)

        async def send_all() -> tuple[datetime, float, dict[str, int]]:
            worker = rt.worker(health_checks=False)
            stop = asyncio.Event()
            cpu = time.process_time()
            started = datetime.now(UTC)
            task = asyncio.create_task(worker.run(stop))
            while True:  # only to know when to stop: the time comes from the records
                # Seldom: each look is a read on the worker's own core, and it is not the worker.
                await asyncio.sleep(1.0)
                report = await rt.db.run(campaign_report, uid, datetime.now(UTC), servers=False)
                if report.settled:
                    break
            cpu = time.process_time() - cpu
            stop.set()
            await task
            return started, cpu, report.by_status

        if profile:
            import cProfile

            # The event loop's thread alone: process time would charge the database
            # thread's work to whatever the loop was doing at the moment.
            prof = cProfile.Profile(time.thread_time)
            started, cpu, by_status = prof.runcall(run_async, send_all())
            prof.dump_stats(profile)
        else:
            started, cpu, by_status = run_async(send_all())
        elapsed = (last_write_back(rt, campaign_id) - started).total_seconds()
        rt.close()
    return {"elapsed": elapsed, "cpu": cpu, "by_status": by_status}


def run_worker_round(
    tree: str | None,
    port: int,
    n: int,
    servers: int,
    profile: str | None = None,
    kind: str = "sqlite",
) -> dict[str, object]:
    """One round in a fresh process; ``tree``: import sendpool from that source tree instead."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([tree, *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, __file__, "--worker-round", str(port), "--messages", str(n)]
    cmd += ["--servers", str(servers), "--database", kind]
    cmd += ["--profile", profile] if profile else []
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["by_status"] != {"sent": n}:
        raise SystemExit(f"not every message was recorded as sent: {result['by_status']}")
    return result


# -- N `sendpool worker` processes, launch included ---------------------------------------


def send_with_processes(port: int, n: int, servers: int, processes: int) -> float:
    """Start ``sendpool worker`` processes, wait until they are up, then launch and time it."""
    from campaign import prepare

    from sendpool.config import Settings
    from sendpool.runtime import Runtime
    from sendpool.services.campaigns.launch import launch
    from sendpool.services.campaigns.report import campaign_report
    from sendpool.store.catalog import live_workers

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench-multi.db"
        rt = Runtime.open(Settings(database_url=url, secret_key=None))
        campaign_id, uid, _ = prepare(rt, port, n, servers, launch_now=False)
        env = {**os.environ, "SENDPOOL_DATABASE_URL": url, "SENDPOOL_POLL_INTERVAL": "0.05"}
        exe = str(Path(sys.executable).with_name("sendpool"))
        procs = [
            subprocess.Popen([exe, "worker"], env=env, stderr=subprocess.DEVNULL)
            for _ in range(processes)
        ]
        try:
            while rt.db.transaction(live_workers, datetime.now(UTC)) < processes:
                time.sleep(0.1)
            started = datetime.now(UTC)
            launch(rt.db.engine, campaign_id, started)
            while not (
                report := rt.db.transaction(campaign_report, uid, datetime.now(UTC))
            ).settled:
                time.sleep(0.25)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
        if report.by_status != {"sent": n}:
            raise SystemExit(f"not every message was recorded as sent: {report.by_status}")
        elapsed = (last_write_back(rt, campaign_id) - started).total_seconds()
        rt.close()
    return n / elapsed


# -- the whole bench ----------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds, after one warm-up")
    parser.add_argument(
        "--baseline", help="also time the worker of this source tree (a checkout of another commit)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="also time N `sendpool worker` processes (0 skips)"
    )
    parser.add_argument(
        "--launch", type=int, default=200_000, help="list size for the launch/RSS figure (0 skips)"
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the worker's database (PostgreSQL: SENDPOOL_BENCH_PG_URL's server, a scratch database)",
    )
    parser.add_argument("--profile", help="write one round's cProfile stats here, then stop")
    parser.add_argument("--worker-round", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("messages", "servers", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.baseline is not None and not (Path(args.baseline) / "sendpool").is_dir():
        parser.error(f"--baseline {args.baseline}: no sendpool package there")

    if args.worker_round is not None:
        result = worker_round(
            args.worker_round, args.messages, args.servers, args.profile, args.database
        )
        print(json.dumps(result))
        return

    n = args.messages
    mime = sample_mime()
    connections = args.servers * CONNECTIONS_PER_SERVER
    trees = {"pipeline": None, **({"baseline": args.baseline} if args.baseline else {})}
    got: dict[str, list[float]] = defaultdict(list)
    with smtp_sink() as port:
        log(f"smtp-sink on 127.0.0.1:{port}; {n:,} messages of {len(mime):,} bytes")
        if args.profile:
            run_worker_round(None, port, n, args.servers, args.profile, args.database)
            log(f"profile written to {args.profile}")
            return
        for r in range(args.rounds + 1):
            row: dict[str, float] = {}
            steps = ["source", "bare", "transport", *trees]
            for step in steps[r % len(steps) :] + steps[: r % len(steps)]:
                if step == "source":
                    row["source"], row["sessions"] = best_smtp_source(port, n, len(mime))
                elif step == "bare":
                    row["bare"] = bare_loop_rate(port, n, connections, mime)
                elif step == "transport":
                    row["transport"] = transport_loop_rate(port, n, connections, mime)
                else:
                    res = run_worker_round(trees[step], port, n, args.servers, kind=args.database)
                    row[step] = n / float(res["elapsed"])  # type: ignore[arg-type]
                    row[f"{step}_cpu"] = n / float(res["cpu"])  # type: ignore[arg-type]
            log(
                f"round {r}{' (warm-up, not counted)' if r == 0 else ''}: "
                + ", ".join(f"{k} {v:,.0f}" for k, v in row.items())
            )
            if r == 0:
                continue
            for k, v in row.items():
                got[k].append(v)
            for tree in trees:
                got[f"{tree}/source"].append(row[tree] / row["source"])
                got[f"{tree}/bare"].append(row[tree] / row["bare"])
                got[f"{tree}/transport"].append(row[tree] / row["transport"])
            if "baseline" in trees:
                got["pipeline/baseline"].append(row["pipeline"] / row["baseline"])
        multi = send_with_processes(port, n, args.servers, args.processes) if args.processes else 0
    emit(got, n, args, multi)
    if args.launch:
        launch_figures(args.launch)


def emit(got: dict[str, list[float]], n: int, args: argparse.Namespace, multi: float) -> None:
    common = {"size": n, "rounds": args.rounds, "database": args.database}
    sessions = int(statistics.mode(got["sessions"]))
    figure("smtp_source_msg_per_s", median(got["source"]), "msg/s", sessions=sessions, **common)
    figure(
        "bare_loop_msg_per_s", median(got["bare"]), "msg/s", connections=args.servers * 4, **common
    )
    figure(
        "transport_loop_msg_per_s",
        median(got["transport"]),
        "msg/s",
        connections=args.servers * 4,
        **common,
    )
    for tree in ("pipeline", "baseline") if args.baseline else ("pipeline",):
        prefix = "" if tree == "pipeline" else "baseline_"
        figure(f"{prefix}pipeline_msg_per_s", median(got[tree]), "msg/s", **common)
        figure(f"{prefix}pipeline_msg_per_cpu_s", median(got[f"{tree}_cpu"]), "msg/cpu-s", **common)
        ratio = median(got[f"{tree}/source"])
        figure(f"{prefix}pipeline_to_smtp_source", ratio, "ratio", ratio_to="smtp_source", **common)
        ratio = median(got[f"{tree}/bare"])
        figure(f"{prefix}pipeline_to_bare_loop", ratio, "ratio", ratio_to="bare_loop", **common)
        ratio = median(got[f"{tree}/transport"])
        figure(
            f"{prefix}pipeline_to_transport_loop",
            ratio,
            "ratio",
            ratio_to="transport_loop",
            **common,
        )
    if args.baseline:
        ratio = median(got["pipeline/baseline"])
        figure("pipeline_to_baseline", ratio, "ratio", ratio_to="baseline_pipeline", **common)
    if multi:
        figure("worker_processes_msg_per_s", multi, "msg/s", processes=args.processes, size=n)


def launch_figures(size: int) -> None:
    """bench/launch_rss.py in a fresh process: its figures pass through as they come."""
    log(f"launching a {size:,}-subscriber list in a fresh process ...")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("launch_rss.py")), str(size)],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in out.stdout.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "bench" in parsed:
            print(line, flush=True)  # already one figure of the bench contract
        elif isinstance(parsed, dict) and "launch_s" in parsed:
            figure("launch_s", parsed["launch_s"], "s", size=size)
            figure("import_s", parsed["import_s"], "s", size=size)
            figure("launch_peak_rss_mb", parsed["rss_peak_mb"], "MB", size=size)


if __name__ == "__main__":
    main()
