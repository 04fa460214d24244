"""Where a worker's database thread spends its CPU: per kind of transaction, per message.

    .venv/bin/python bench/db_thread.py                       # 20,000 messages, this tree
    .venv/bin/python bench/db_thread.py --baseline /path/to/an/older/tree --rounds 2

One worker round of bench/pipeline.py (SQLite, smtp-sink, one core) runs in a
fresh process with a timer around every transaction of sendpool's database
handle: the thread CPU each one took (``time.thread_time``, so waiting for
the lock or the GIL does not count), summed by the function it ran. With
``--baseline`` the rounds of both trees alternate. Each figure is a JSON line:
``db_thread_cpu_s`` and ``process_cpu_s`` per round, and ``db_us_per_message``
for every kind of transaction; a table of the last round goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from sinks import smtp_sink

BENCH = "db_thread"


def timed_round(port: int, n: int) -> None:
    """In the child: time every transaction, run one worker round, print the sums as JSON."""
    from sendpool.store import database

    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    real = database.Database._transaction

    def timed(
        self: database.Database, engine: object, fn: object, *a: object, **k: object
    ) -> object:
        started = time.thread_time()
        try:
            return real(self, engine, fn, *a, **k)  # type: ignore[arg-type]
        finally:
            entry = spent[database._name(fn)]  # type: ignore[arg-type]
            entry[0] += 1
            entry[1] += time.thread_time() - started

    database.Database._transaction = timed  # type: ignore[method-assign,assignment]
    import pipeline

    result = pipeline.worker_round(port, n, 3, None)
    print(json.dumps({**result, "spent": spent}))


def one_round(tree: str | None, port: int, n: int) -> dict[str, object]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([tree, *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, __file__, "--child", str(port), "--messages", str(n)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    got: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if got["by_status"] != {"sent": n}:
        raise SystemExit(f"not every message was recorded as sent: {got['by_status']}")
    return got


def figure(name: str, value: float, unit: str, **extra: object) -> None:
    print(
        json.dumps(
            {"bench": BENCH, "figure": name, "value": round(value, 3), "unit": unit, **extra}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each tree")
    parser.add_argument("--baseline", help="also time the worker of this source tree")
    parser.add_argument("--child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds must be at least 1")
    if args.baseline is not None and not (Path(args.baseline) / "sendpool").is_dir():
        parser.error(f"--baseline {args.baseline}: no sendpool package there")
    if args.child is not None:
        timed_round(args.child, args.messages)
        return
    n = args.messages
    trees = {"pipeline": None, **({"baseline": args.baseline} if args.baseline else {})}
    last: dict[str, object] = {}
    last_tree = "pipeline"
    with smtp_sink() as port:
        for r in range(args.rounds):
            for tree, path in trees.items():
                got = one_round(path, port, n)
                spent: dict[str, list[float]] = got["spent"]  # type: ignore[assignment]
                common = {"tree": tree, "round": r + 1, "size": n}
                db = sum(s for _, s in spent.values())
                figure("db_thread_cpu_s", db, "s", **common)
                figure("process_cpu_s", float(got["cpu"]), "s", **common)  # type: ignore[arg-type]
                for name, (calls, s) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
                    figure("db_us_per_message", s / n * 1e6, "µs", step=name, calls=calls, **common)
                last, last_tree = spent, tree  # type: ignore[assignment]
    print(f"the last round ({last_tree}), per transaction:", file=sys.stderr)
    print(f"{'transaction':40s} {'calls':>7s} {'µs/message':>11s}", file=sys.stderr)
    for name, (calls, s) in sorted(last.items(), key=lambda kv: -kv[1][1]):  # type: ignore[attr-defined]
        print(f"{name:40s} {calls:7d} {s / n * 1e6:11.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
