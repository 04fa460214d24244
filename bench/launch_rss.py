"""Import and launch big lists on SQLite and PostgreSQL: seconds per million rows, peak RSS.

    .venv/bin/python bench/launch_rss.py                          # 100k,1M,10M on both
    .venv/bin/python bench/launch_rss.py --sizes 100k,1M --db sqlite
    .venv/bin/python bench/launch_rss.py 1000000                  # SQLite at one size

The cost of a row must not grow with the list: each step's seconds per million
rows should be the same at every size, and the memory of the process doing the
work the same too. So each size's CSV is written to a file first (not timed),
and each import + launch runs in a fresh child process on a fresh database (a
scratch PostgreSQL database is created and dropped), which streams the file and
reports its own times (wall clock, and its own CPU, which other load on the
machine disturbs less) and memory: its peak RSS during the work (VmHWM, reset
when the work starts) and how far that peak rose above the RSS it started with.
One address in a hundred is suppressed before the launch, so the launch probes
the suppression list as it would in use. After the launch, one claim of 100
messages (rolled back) shows whether the queue's claim plan kept up with the
launch. The last line for each size and database carries the summary keys
bench/pipeline.py reads (import_s, launch_s, rss_peak_mb, rss_after_import_mb).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = "launch_rss"
SUFFIXES = {"k": 1_000, "m": 1_000_000}
MAX_SIZE = 100_000_000


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def figure(name: str, value: float, unit: str, **extra: object) -> None:
    line = {"bench": BENCH, "figure": name, "value": round(value, 3), "unit": unit, **extra}
    print(json.dumps(line), flush=True)


def parse_size(word: str) -> int:
    """'100k' -> 100000, '10M' -> 10000000, '2500' -> 2500."""
    w = word.strip().lower().replace("_", "")
    scale = SUFFIXES.get(w[-1:], 1)
    digits = w[:-1] if scale != 1 else w
    try:
        n = int(float(digits) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a size: {word!r} (use e.g. 100k, 1M, 2500)"
        ) from None
    if not 1 <= n <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size {word!r} must be between 1 and {MAX_SIZE:,}")
    return n


def parse_sizes(text: str) -> list[int]:
    sizes = [parse_size(w) for w in text.split(",") if w.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("--sizes needs at least one size")
    return sizes


def address(i: int, shuffled: bool) -> str:
    """reader<i>@example.com; shuffled, with a prefix that scatters it in address order."""
    if not shuffled:
        return f"reader{i}@example.com"
    return f"{(i * 2654435761) % 2**32:08x}.reader{i}@example.com"  # Knuth's multiplicative hash


def write_csv(path: Path, n: int, shuffled: bool = False) -> None:
    """The list as a file, written in chunks so even 10 M rows never sit in memory."""
    with path.open("w") as fh:
        fh.write("email,first_name\n")
        step = 100_000
        for start in range(0, n, step):
            stop = min(n, start + step)
            fh.write("".join(f"{address(i, shuffled)},Reader{i}\n" for i in range(start, stop)))


# ---------------------------------------------------------------- the child: the measured work


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def claim_walks_the_pending_index(conn: Any, now: datetime) -> bool:
    """Whether the queue's claim reads the pending index in order, with no sort.

    The same check as the launch test's (tests/support/claim_plan.py), so the two
    never judge the plan differently; the reason goes to stderr when it fails.
    """
    from tests.support.claim_plan import claim_plan_problem

    problem = claim_plan_problem(conn, now)
    if problem is not None:
        print(f"the claim's plan after the launch: {problem}", file=sys.stderr)
    return problem is None


def child(url: str, csv_path: str) -> None:
    from content import HTML, SUBJECT, TEXT
    from sqlalchemy import text

    from sendpool.config import Settings
    from sendpool.runtime import Runtime
    from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
    from sendpool.services.campaigns.launch import launch
    from sendpool.services.lists.imports import get_or_create_list, import_csv
    from sendpool.services.pool.apply import apply_pool
    from sendpool.services.pool.file import parse_pool
    from sendpool.store.queue import claim_sync

    rt = Runtime.open(Settings(database_url=url, secret_key=None))
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
    _reset_peak()
    rss_start = _status_kb("VmRSS")
    started, cpu = time.perf_counter(), _cpu()
    with rt.db.engine.begin() as conn, open(csv_path, "rb") as fh:
        list_id = get_or_create_list(conn, 1, "big", now)
        report = import_csv(conn, list_id, fh, now)
    imported, import_cpu = time.perf_counter() - started, _cpu() - cpu
    import_peak = _status_kb("VmHWM")
    with rt.db.engine.begin() as conn:  # not timed: one address in a hundred is suppressed
        conn.execute(
            text(
                "INSERT INTO suppressions (customer_id, email, reason, created_at) "
                "SELECT 1, email, 'bench', created_at FROM subscribers "
                "WHERE list_id = :l AND id % 100 = 0"
            ),
            {"l": list_id},
        )
    draft = check_draft(
        CampaignDraft("big", SUBJECT, "news@example.com", None, None, TEXT, HTML), "http://x"
    )
    campaign_id, _ = rt.db.transaction(
        lambda c: create_campaign(
            c, customer_id=1, list_id=list_id, draft=draft, plan_id=None, now=now
        )
    )
    _reset_peak()
    started, cpu = time.perf_counter(), _cpu()
    queued = launch(rt.db.engine, campaign_id, now)
    launched, launch_cpu = time.perf_counter() - started, _cpu() - cpu
    launch_peak = _status_kb("VmHWM")
    later = now + timedelta(seconds=1)
    with rt.db.engine.connect() as conn:
        plan_ok = claim_walks_the_pending_index(conn, later)
        conn.rollback()
        trans = conn.begin()
        started = time.perf_counter()
        claimed = claim_sync(conn, "bench", 100, later, later + timedelta(minutes=5))
        claim_s = time.perf_counter() - started
        trans.rollback()
    rt.close()
    out = {
        "subscribers": report.rows,
        "queued": queued,
        "claimed": len(claimed),
        "import_s": imported,
        "launch_s": launched,
        "import_cpu_s": import_cpu,
        "launch_cpu_s": launch_cpu,
        "claim_s": claim_s,
        "claim_plan_ok": plan_ok,
        "rss_start_mb": rss_start / 1024,
        "rss_after_import_mb": import_peak / 1024,
        "rss_peak_mb": max(import_peak, launch_peak) / 1024,
        "rss_growth_mb": (max(import_peak, launch_peak) - rss_start) / 1024,
    }
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- the parent: files, databases


def run_one(db: str, n: int, csv_path: Path, tmp: Path) -> dict[str, float]:
    from databases import database

    with database(db, f"h1_launch_{os.getpid()}_{n}", directory=str(tmp)) as url:
        env = dict(os.environ)
        bench_dir, root = Path(__file__).parent, Path(__file__).resolve().parents[1]
        paths = (env.get("PYTHONPATH"), str(bench_dir), str(root))  # root: tests.support
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        done = subprocess.run(
            [sys.executable, __file__, "--child", url, str(csv_path)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("size", nargs="?", type=parse_size, help="one size, on SQLite (old form)")
    ap.add_argument("--sizes", type=parse_sizes, help="comma-separated, e.g. 100k,1M,10M")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    ap.add_argument(
        "--shuffled",
        action="store_true",
        help="addresses in no order (as real lists are): the unique key and the recipient\n"
        "index then take each row on a page of its own once they outgrow the cache",
    )
    ap.add_argument("--child", nargs=2, metavar=("URL", "CSV"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.size is not None and args.sizes is not None:
        ap.error("give either a size or --sizes, not both")
    if args.size is not None:
        sizes, dbs = [args.size], ["sqlite"]
    else:
        sizes = args.sizes or [100_000, 1_000_000, 10_000_000]
        dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    unknown = [d for d in dbs if d not in ("sqlite", "postgresql")]
    if unknown or not dbs:
        ap.error(f"--db takes sqlite and/or postgresql, not {args.db!r}")
    tmp = Path(tempfile.mkdtemp(prefix="launch_rss_", dir=os.environ.get("TMPDIR", "/tmp")))
    per_million: dict[tuple[str, str], dict[int, float]] = {}
    try:
        for n in sizes:
            csv_path = tmp / f"list_{n}.csv"
            started = time.perf_counter()
            write_csv(csv_path, n, args.shuffled)
            log(
                f"{label(n)}: wrote {csv_path.stat().st_size / 1e6:,.0f} MB of CSV in "
                f"{time.perf_counter() - started:.1f} s (not timed)"
            )
            for db in dbs:
                r = run_one(db, n, csv_path, tmp)
                keys: dict[str, object] = {"size": n, "db": db}
                if args.shuffled:
                    keys["addresses"] = "shuffled"
                millions = n / 1e6
                for step in ("import", "launch"):
                    value = r[f"{step}_s"] / millions
                    per_million.setdefault((db, step), {})[n] = value
                    figure(f"{step}_s_per_million", value, "s", **keys)
                    # This process's CPU alone (with PostgreSQL the server does a share).
                    cpu = r[f"{step}_cpu_s"] / millions
                    figure(f"{step}_cpu_s_per_million", cpu, "s", **keys)
                figure("claim_ms", r["claim_s"] * 1000, "ms", **keys)
                figure("claim_plan_ok", float(r["claim_plan_ok"]), "bool", **keys)
                figure("rss_growth_mb", r["rss_growth_mb"], "MB", **keys)
                summary = {k: r[k] for k in ("import_s", "launch_s", "rss_after_import_mb")}
                figure(
                    "peak_rss_mb",
                    r["rss_peak_mb"],
                    "MB",
                    **keys,
                    **summary,
                    rss_peak_mb=r["rss_peak_mb"],
                )
                log(
                    f"{label(n):>5} {db:<10} import {r['import_s']:8.1f} s "
                    f"({value_of(per_million, db, 'import', n):6.2f} s/M)  launch "
                    f"{r['launch_s']:8.1f} s ({value_of(per_million, db, 'launch', n):6.2f} s/M)"
                    f"  claim {r['claim_s'] * 1000:6.1f} ms  peak RSS {r['rss_peak_mb']:5.0f} MB"
                    f" (+{r['rss_growth_mb']:.0f})  queued {r['queued']:,}"
                )
            csv_path.unlink()
        if len(sizes) > 1:
            small, big = min(sizes), max(sizes)
            for (db, step), values in per_million.items():
                ratio = values[big] / values[small]
                figure(f"{step}_per_row_growth", ratio, "x", db=db, size=big, ratio_to=small)
                log(
                    f"{db} {step}: seconds per row at {label(big)} / at {label(small)} = "
                    f"{ratio:.2f}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def value_of(table: dict[tuple[str, str], dict[int, float]], db: str, step: str, n: int) -> float:
    return table[(db, step)][n]


if __name__ == "__main__":
    main()
