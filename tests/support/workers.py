"""`sendpool worker` processes for the scale tests, started and stopped as an operator would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sendpool.config import Settings
from sendpool.core.quota import Denial, Grant
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.services.campaigns.report import CampaignReport, campaign_report


def noon_zone(now: datetime) -> str:
    """A zone where it is about noon, so no day window ends while the test runs."""
    offset = 12 - now.hour  # -11 .. +12, every one an Etc/GMT zone
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def sendpool_command() -> list[str]:
    script = Path(sys.executable).with_name("sendpool")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from sendpool.cli.app import main; main()"]


def worker_env(settings: Settings, **extra: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDPOOL_")}
    env.update(
        {
            "SENDPOOL_DATABASE_URL": settings.database_url,
            "SENDPOOL_SECRET_KEY": settings.secret_key or "",
            "SENDPOOL_POLL_INTERVAL": "0.05",
        }
    )
    if settings.redis_url:
        env["SENDPOOL_REDIS_URL"] = settings.redis_url
    env.update({f"SENDPOOL_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class Workers:
    """Worker processes whose output goes to files, shown when one of them fails."""

    # A session of their own: a Ctrl-C at the terminal reaches only whoever stops them.
    new_session = False

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int, *args: str) -> list[subprocess.Popen[bytes]]:
        new = []
        for _ in range(n):
            log = (self.logs / f"worker{len(self.procs)}.log").open("wb")
            proc = subprocess.Popen(
                [*sendpool_command(), "worker", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
            log.close()
            self.procs.append(proc)
            new.append(proc)
        return new

    def output(self, i: int) -> str:
        return (self.logs / f"worker{i}.log").read_text(errors="replace")

    def check_alive(self, expected_dead: Sequence[subprocess.Popen[bytes]] = ()) -> None:
        for i, p in enumerate(self.procs):
            if p not in expected_dead and p.poll() is not None:
                pytest.fail(f"worker {i} exited with {p.returncode}:\n{self.output(i)[-3000:]}")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: each worker finishes its sends, writes them back and leaves."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


@contextmanager
def workers(env: dict[str, str], logs: Path) -> Iterator[Workers]:
    w = Workers(env, logs)
    try:
        yield w
    finally:
        w.stop()


def make_ledger_whole(rt: Runtime) -> None:
    """Have the Redis ledger rebuilt before the workers start, as after a first start.

    A worker that meets an empty Redis waits for the rebuild (a couple of
    seconds) and re-deals what it could not place: tests of balance start
    from the steady state instead.
    """
    now = datetime.now(UTC)

    async def reserve() -> Grant:
        return await rt.ledger.reserve(0, windows_at(now), Caps(1), 1, now)

    for _ in range(50):
        if asyncio.run(reserve()).denied is not Denial.UNAVAILABLE:
            return
        time.sleep(0.1)
    pytest.fail("the Redis ledger was never rebuilt")


def wait_until_settled(
    rt: Runtime,
    uid: str,
    pool: Workers,
    *,
    timeout: float,
    expected_dead: Sequence[subprocess.Popen[bytes]] = (),
    tick: Callable[[CampaignReport], None] | None = None,
) -> CampaignReport:
    """Poll the campaign until it settles; fail at once if a worker dies."""
    deadline = time.monotonic() + timeout
    while True:
        report = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
        if report.settled:
            return report
        if tick is not None:
            tick(report)
        pool.check_alive(expected_dead)
        if time.monotonic() > deadline:
            pytest.fail(f"not settled after {timeout:.0f} s: {report}")
        time.sleep(0.2)
