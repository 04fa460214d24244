"""A live ``sendpool serve`` in a subprocess, driven by an operator's shell script (curl, jq)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, func, select

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.serve import bind, serve_api
from sendpool.services.access import tokens
from sendpool.services.operations.rebalance import RUN_ACTION
from sendpool.services.servers import commands as server_commands
from sendpool.store.tables import AuditEntry
from tests.support.live_process import SENDPOOL, free_port, wait_until_serving
from tests.support.seeding import seed_activity

SCRIPT = Path(__file__).parents[1] / "support" / "rebalance_loop.sh"
# name -> (sent, hard bounces) in the last 24 hours, and the limit the loop must leave
SERVERS = {
    "clean": (1000, 5, 1100),  # 0.5 %: raised by 10 %
    "steady": (1000, 20, 1000),  # 2 %: kept
    "bouncy": (400, 20, 750),  # 5 %: cut by 25 %
    "quiet": (0, 0, 1100),  # nothing sent: the rate reads 0.0, so the loop raises it
}


def ensure_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        apt = ["sudo", "-n", *apt]
    subprocess.run(apt, check=True, capture_output=True, timeout=600)


def prepare(settings: Settings) -> str:
    """Servers with known traffic, and an admin token; returns the token."""
    rt = Runtime.open(settings)
    now = datetime.now(UTC)

    def seed(conn: Connection) -> str:
        for name, (sent, bounces, _) in SERVERS.items():
            fields = {"name": name, "type": "smtp", "host": "127.0.0.1", "port": 9,
                      "encryption": "none", "sending_limit": 1000}  # fmt: skip
            server_commands.create_server(conn, rt.box, fields=fields, actor="test", now=now)
            seed_activity(conn, name, sent=sent, bounces=bounces, complaints=0, now=now)
        issued = tokens.create_token(conn, name="operator", customer=None, actor="t", now=now)
        return issued.token

    try:
        return rt.db.transaction(seed)
    finally:
        rt.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/serve.db", secret_key=key)
    token = prepare(settings)
    port = free_port()
    env = {
        **os.environ,
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": key,
        # The built-in daily job would rebalance on start; here the operator's loop does it.
        "SENDPOOL_REBALANCE_ENABLED": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SENDPOOL, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, proc, log)
    try:
        yield base, token, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_operator_rebalancing_loop_against_live_serve(
    served: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    ensure_tools("curl", "jq")
    base, token, proc = served
    run = subprocess.run(
        ["bash", str(SCRIPT), base],
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "bouncy: bounce rate 0.05, sending_limit 1000 -> 750" in run.stdout

    headers = {"Authorization": f"Bearer {token}"}
    servers = httpx.get(base + "/api/v1/admin/sending-servers", headers=headers).json()
    assert {s["name"]: s["sending_limit"] for s in servers} == {
        name: want for name, (_, _, want) in SERVERS.items()
    }
    audit = httpx.get(
        base + "/api/v1/admin/audit-log", params={"action": "server.update"}, headers=headers
    )
    assert {e["server_name"] for e in audit.json()} == {"clean", "bouncy", "quiet"}
    assert {e["actor"] for e in audit.json()} == {"token:operator"}

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0  # graceful: workers and API stopped, exit status 0


def rebalance_runs(conn: Connection) -> int:
    found = select(func.count()).where(AuditEntry.action == RUN_ACTION)
    return int(conn.execute(found).scalar_one())


@pytest.mark.slow
async def test_serve_without_workers_answers_and_stops_on_sigterm(world_settings: Settings) -> None:
    rt = Runtime.open(world_settings)
    try:
        sock = bind("127.0.0.1", 0)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        said: list[str] = []
        task = asyncio.create_task(serve_api(rt, sock, workers=False, announce=said.append))
        async with httpx.AsyncClient() as client:
            async with asyncio.timeout(60):  # a hang guard, not a speed check
                while True:
                    try:
                        if (await client.get(base + "/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
                # API-only processes still run the daily jobs: the missed slot runs at start.
                while not await rt.db.run(rebalance_runs):
                    await asyncio.sleep(0.05)
        # The handlers serve_api installed turn SIGTERM into a graceful stop.
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 60)
        assert "workers off" in said[0]
        assert await rt.db.run(rebalance_runs) == 1
    finally:
        rt.close()
