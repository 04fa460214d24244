"""Throughput of the report classifier alone, beside the standard library's parse of the same mail.

    .venv/bin/python bench/reports.py                    # the corpus, repeated to 20,000 reports
    .venv/bin/python bench/reports.py --reports 5000 --big 10000

The input is tests/corpus/reports/*.eml (DSNs of Postfix, Exim, Sendmail,
Exchange and Gmail, ARF complaints, auto-replies, qmail and other plain-text
bounces, human mail, malformed and binary input) cycled until --reports. Each
figure is the best of --rounds passes over the whole list, in CPU seconds, in
one process; the reference pass is ``email.message_from_bytes`` on the same bytes,
which is the floor any classifier built on the standard library parser has.
"""

from __future__ import annotations

import argparse
import email
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sendpool.core.reports import classify

console = Console()
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "reports"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--big", type=int, default=10_000, help="also time one DSN with N recipients (0 skips)"
    )
    args = parser.parse_args()

    samples = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    if not samples:
        raise SystemExit(f"no samples in {CORPUS}")
    reports = [samples[i % len(samples)] for i in range(args.reports)]
    size = sum(len(r) for r in reports) / len(reports)
    console.print(
        f"{len(samples)} samples from {CORPUS}, cycled to {len(reports):,} reports "
        f"of {size:,.0f} bytes on average; best of {args.rounds}"
    )

    parse_s = classify_s = float("inf")
    for _ in range(args.rounds):  # interleaved, so both see the same machine
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

    if args.big:
        raw = big_dsn(args.big)
        parse_big = best_of(args.rounds, lambda: email.message_from_bytes(raw))
        classify_big = best_of(args.rounds, lambda: classify(raw))
        report = classify(raw)
        console.print(
            f"one DSN with {args.big:,} recipients ({len(raw):,} bytes): parse {parse_big:.3f} s, "
            f"classify {classify_big:.3f} s; kept {len(report.results):,} results, "
            f"truncated={report.truncated}"
        )


if __name__ == "__main__":
    main()
