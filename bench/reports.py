"""Throughput of the report classifier alone, beside the standard library's parse of the same mail;
with --e2e, also of reports taken by the inbound listener and applied to the database.

    .venv/bin/python bench/reports.py                    # the corpus, repeated to 20,000 reports
    .venv/bin/python bench/reports.py --reports 5000 --big 10000
    .venv/bin/python bench/reports.py --e2e              # then 2,000 DSNs through the listener
    .venv/bin/python bench/reports.py --reports 0 --big 0 --e2e --messages 5000

The input is tests/corpus/reports/*.eml (DSNs of Postfix, Exim, Sendmail,
Exchange and Gmail, ARF complaints, auto-replies, qmail and other plain-text
bounces, human mail, malformed and binary input) cycled until --reports. Each
figure is the best of --rounds passes over the whole list, in CPU seconds, in
one process; the reference pass is ``email.message_from_bytes`` on the same bytes,
which is the floor any classifier built on the standard library parser has.

--e2e (after the classifier part, which stays as fast without it) sends a
campaign of --messages through a recording SMTP sink with a bounce domain set,
builds one DSN per message the sink received (a hard bounce, every fourth a
mailbox-full one) carrying that message's own verified token, and hands them to
the real ``InboundListener`` over SMTP from --connections reused aiosmtplib
connections. Three passes are interleaved --rounds times and the best of each
kept: classify alone on those DSNs (CPU seconds); the listener with the real
``ReportHandler`` writing to a temporary SQLite database (wall seconds from the
first connection to the last 250; every round starts from a fresh copy of the
database as the send left it, and its delivery_events rows must equal the DSNs
sent); and the listener with a handler that returns at once, the SMTP cost
alone. Clients and listener share one process and event loop (uvloop), as the
CPU figure of the end-to-end pass counts both.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import aiosmtplib
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the DSN builders and pool set-up of the tests
    sys.path.insert(0, str(ROOT))

from sendpool.config import Settings  # noqa: E402
from sendpool.core.reports import classify  # noqa: E402
from sendpool.pipeline.embedded import run_async  # noqa: E402
from sendpool.runtime import Runtime  # noqa: E402
from sendpool.services.inbound.handle import Envelope, Handled, ReportHandler  # noqa: E402
from sendpool.services.inbound.listener import InboundListener, ReportSink  # noqa: E402
from sendpool.sinks import Received, SmtpSink  # noqa: E402
from sendpool.store.tables import DeliveryEvent  # noqa: E402
from tests.support.report_mail import Rcpt, dsn  # noqa: E402
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled  # noqa: E402

console = Console()
CORPUS = ROOT / "tests" / "corpus" / "reports"
BOUNCE_DOMAIN = "bounce.example.net"
Mail = tuple[str, bytes]  # the return path a DSN is delivered to, and the DSN


def best_of(rounds: int, work: Callable[[], object]) -> float:
    """CPU seconds of the fastest pass: the work is single-threaded and pure, and CPU
    time is not inflated by other processes sharing the machine."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def big_dsn(recipients: int) -> bytes:
    """One DSN with many per-recipient blocks, as a hostile or very large report is."""
    blocks = "".join(
        f"Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        for i in range(recipients)
    )
    return (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"{blocks}--b--\n"
    ).encode()


def settings_for(db: Path, secret_key: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db}",
        secret_key=secret_key,
        bounce_domain=BOUNCE_DOMAIN,
        poll_interval=0.02,
        health_check_interval=300.0,
    )


def report_for(i: int, sent: Received) -> bytes:
    """The DSN a relay would send back about ``sent``: a hard bounce, every fourth a full mailbox."""
    rcpt = sent.recipients[0]
    if i % 4 == 3:
        block = Rcpt(rcpt, "5.2.2", diagnostic=f"552 5.2.2 <{rcpt}>: Mailbox full")
    else:
        block = Rcpt(rcpt, "5.1.1", diagnostic=f"550 5.1.1 <{rcpt}>: User unknown")
    return dsn(sent, [block])


async def sent_campaign(db: Path, secret_key: str, n: int) -> list[Mail]:
    """Send ``n`` messages through a sink; one DSN per message the sink received."""
    rt = Runtime.open(settings_for(db, secret_key))
    sink = await SmtpSink("sink0").start()
    try:
        pool_of_sinks(rt, [sink])
        _, uid = make_campaign(rt, n)
        report = await send_until_settled(rt, uid, timeout=600.0)
    finally:
        await sink.stop()
        rt.close()
    if report.by_status != {"sent": n} or sink.count != n:
        raise SystemExit(f"the campaign did not send all {n:,}: {report.by_status}")
    return [(m.mail_from, report_for(i, m)) for i, m in enumerate(sink.messages)]


def copy_database(src: Path, dst: Path) -> None:
    """SQLite's own backup, so a round starts from the database exactly as the send left it."""
    dst.touch(mode=0o600)  # as private as sendpool keeps its own database file
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def event_rows(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(DeliveryEvent)) or 0)


async def at_once(raw: bytes, envelope: Envelope, now: datetime) -> Handled:
    return Handled("applied", None, None, None, "taken, nothing done")


async def through_listener(handler: ReportSink, mails: list[Mail], connections: int) -> float:
    """Wall seconds from the first connection to the last 250, over ``connections`` reused ones."""
    listener = InboundListener(
        handler, [BOUNCE_DOMAIN], hostname="inbound.bench.local", max_connections=connections
    )
    host, port = await listener.start()
    todo: Iterator[Mail] = iter(mails)  # shared: each connection takes the next DSN
    answered = 0
    last = 0.0

    async def client() -> None:
        nonlocal answered, last
        smtp = aiosmtplib.SMTP(
            hostname=host, port=port, local_hostname="mx.example.net", timeout=120
        )
        await smtp.connect()
        for rcpt, raw in todo:
            await smtp.sendmail("", [rcpt], raw)  # raises unless the listener answers 250
            answered += 1
            last = time.perf_counter()
        await smtp.quit()

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(connections)))
    finally:
        await listener.close()
    if answered != len(mails):
        raise SystemExit(f"the listener answered 250 to {answered:,} of {len(mails):,}")
    return last - started


async def end_to_end(rt: Runtime, mails: list[Mail], connections: int) -> tuple[float, float, int]:
    """Wall and CPU seconds through the listener and the real handler, and the events written."""
    before = rt.db.transaction(event_rows)
    cpu = time.process_time()
    wall = await through_listener(ReportHandler.from_runtime(rt), mails, connections)
    cpu = time.process_time() - cpu
    return wall, cpu, rt.db.transaction(event_rows) - before


async def e2e_bench(n: int, connections: int, rounds: int) -> None:
    secret_key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory() as tmp:
        sent_db = Path(tmp) / "sent.db"
        started = time.perf_counter()
        mails = await sent_campaign(sent_db, secret_key, n)
        raws = [raw for _, raw in mails]
        kinds = Counter(classify(r).kind.value for r in raws)
        size = sum(len(r) for r in raws) / len(raws)
        console.print(
            f"sent {n:,} messages through a sink in {time.perf_counter() - started:.1f} s; "
            f"{len(mails):,} DSNs of {size:,.0f} bytes on average, kinds {dict(sorted(kinds.items()))}; "
            f"{connections} connections; best of {rounds}"
        )
        classify_s = smtp_s = e2e_s = e2e_cpu = float("inf")
        for r in range(rounds):  # interleaved, so all three see the same machine
            classify_s = min(classify_s, best_of(1, lambda: [classify(x) for x in raws]))
            smtp_s = min(smtp_s, await through_listener(at_once, mails, connections))
            db = Path(tmp) / f"round{r}.db"
            copy_database(sent_db, db)
            rt = Runtime.open(settings_for(db, secret_key))
            try:
                wall, cpu, written = await end_to_end(rt, mails, connections)
            finally:
                rt.close()
            if written != len(mails):
                raise SystemExit(
                    f"round {r + 1}: {written:,} delivery_events rows for {len(mails):,} DSNs"
                )
            if wall < e2e_s:
                e2e_s, e2e_cpu = wall, cpu

    n_sent = len(mails)
    table = Table(title="reports through the inbound listener to SQLite, beside its parts")
    table.add_column("pass")
    table.add_column("reports", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("reports/s", justify="right")
    table.add_row(
        "classify alone (CPU s)", f"{n_sent:,}", f"{classify_s:.2f}", f"{n_sent / classify_s:,.0f}"
    )
    table.add_row(
        "listener + ReportHandler + SQLite (wall s)",
        f"{n_sent:,}",
        f"{e2e_s:.2f}",
        f"{n_sent / e2e_s:,.0f}",
    )
    table.add_row(
        "listener, handler returns at once (wall s)",
        f"{n_sent:,}",
        f"{smtp_s:.2f}",
        f"{n_sent / smtp_s:,.0f}",
    )
    table.caption = (
        f"end to end / SMTP-only = {smtp_s / e2e_s:.2f}; classify / end to end = "
        f"{e2e_s / classify_s:.1f}; the end-to-end pass used {e2e_cpu:.1f} CPU s "
        f"(clients included), {n_sent / e2e_cpu:,.0f} reports per CPU second; "
        f"{n_sent:,} delivery_events rows written each round"
    )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--reports", type=int, default=20_000, help="corpus reports to classify (0 skips)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--big", type=int, default=10_000, help="also time one DSN with N recipients (0 skips)"
    )
    parser.add_argument(
        "--e2e",
        action="store_true",
        help="after the classifier part, also time DSNs through the inbound listener to SQLite",
    )
    parser.add_argument(
        "--messages", type=int, default=2_000, help="with --e2e: messages sent, one DSN each"
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="with --e2e: SMTP connections to the listener"
    )
    args = parser.parse_args()
    if args.reports:
        corpus_bench(args.reports, args.rounds)
    if args.big:
        big_bench(args.big, args.rounds)
    if args.e2e:
        run_async(e2e_bench(args.messages, args.connections, args.rounds))


def corpus_bench(count: int, rounds: int) -> None:
    samples = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    if not samples:
        raise SystemExit(f"no samples in {CORPUS}")
    reports = [samples[i % len(samples)] for i in range(count)]
    size = sum(len(r) for r in reports) / len(reports)
    console.print(
        f"{len(samples)} samples from {CORPUS}, cycled to {len(reports):,} reports "
        f"of {size:,.0f} bytes on average; best of {rounds}"
    )

    parse_s = classify_s = float("inf")
    for _ in range(rounds):  # interleaved, so both see the same machine
        parse_s = min(parse_s, best_of(1, lambda: [email.message_from_bytes(r) for r in reports]))
        classify_s = min(classify_s, best_of(1, lambda: [classify(r) for r in reports]))
    kinds = Counter(classify(r).kind.value for r in reports)

    table = Table(title="report classifier vs the standard library's parse, one process")
    table.add_column("pass")
    table.add_column("reports", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_column("reports/s", justify="right")
    table.add_row(
        "email.message_from_bytes (reference)",
        f"{len(reports):,}",
        f"{parse_s:.2f}",
        f"{len(reports) / parse_s:,.0f}",
    )
    table.add_row(
        "classify (parse + classify)",
        f"{len(reports):,}",
        f"{classify_s:.2f}",
        f"{len(reports) / classify_s:,.0f}",
    )
    table.caption = (
        f"classify / message_from_bytes time = {classify_s / parse_s:.2f}; "
        f"kinds {dict(sorted(kinds.items()))}"
    )
    console.print(table)


def big_bench(recipients: int, rounds: int) -> None:
    raw = big_dsn(recipients)
    parse_big = best_of(rounds, lambda: email.message_from_bytes(raw))
    classify_big = best_of(rounds, lambda: classify(raw))
    report = classify(raw)
    console.print(
        f"one DSN with {recipients:,} recipients ({len(raw):,} bytes): parse {parse_big:.3f} s, "
        f"classify {classify_big:.3f} s; kept {len(report.results):,} results, "
        f"truncated={report.truncated}"
    )


if __name__ == "__main__":
    main()
