"""The operator's loop against a live ``sendpool serve`` with SMTP sinks, as the seed tried it.

A backlog waits for relay-a's daily window; attaching an idle server through
the API releases it at once, through that server. The built-in rebalancer,
on at this first start, moves no declared limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from sendpool.sinks import SmtpSink
from sendpool.store.tables import AuditEntry, Message, Plan, SendingServer
from tests.support.live_process import SENDPOOL, free_port, wait_until_serving
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.sinks import StartSinks
from tests.support.workers import noon_zone

pytestmark = pytest.mark.slow

N, CAP = 8, 5
Live = tuple[Runtime, str, tuple[str, SmtpSink, SmtpSink]]


def _by_status(rt: Runtime) -> dict[str, int]:
    rows = rt.db.transaction(
        lambda c: c.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    )
    return {str(s): int(n) for s, n in rows}


@pytest.fixture
async def live(tmp_path: Path, sinks: StartSinks) -> AsyncIterator[Live]:
    a, c = await sinks(2)
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/live.db", secret_key=key)
    rt = Runtime.open(settings)
    zone = noon_zone(datetime.now(UTC))  # no day window ends while the test runs
    apply(
        rt,
        {
            "servers": [
                smtp_server("relay-a", a.port, CAP, timezone=zone),
                smtp_server("relay-c", c.port, 100, timezone=zone, enabled=True),
            ],
            "plans": [{"name": "P", "servers": ["relay-a"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, N)
    token = rt.db.transaction(
        tokens.create_token, name="ops", customer=None, actor="t", now=datetime.now(UTC)
    ).token
    port = free_port()
    env = {
        **os.environ,
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": key,
        "SENDPOOL_POLL_INTERVAL": "0.05",
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
    try:
        await asyncio.to_thread(wait_until_serving, base, proc, log)
        yield rt, base, (token, a, c)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 60)
        rt.close()


async def test_attaching_a_server_through_the_api_releases_the_backlog(
    live: Live,
) -> None:
    rt, base, (token, a, c) = live
    async with asyncio.timeout(120):  # a hang guard, not a speed check
        while _by_status(rt) != {"sent": CAP, "queued": N - CAP}:
            await asyncio.sleep(0.1)
        ids = rt.db.transaction(
            lambda conn: (
                conn.execute(select(Plan.uid).where(Plan.name == "P")).scalar_one(),
                conn.execute(
                    select(SendingServer.uid).where(SendingServer.name == "relay-c")
                ).scalar_one(),
            )
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            put = await client.put(f"/api/v1/admin/plans/{ids[0]}/sending-servers/{ids[1]}")
            assert put.status_code == 200, put.text
            # Within seconds, not at tomorrow's window: relay-c sends the rest.
            while _by_status(rt) != {"sent": N}:
                await asyncio.sleep(0.1)
            pool = (await client.get("/api/v1/admin/pool")).json()
    assert (len(a.messages), len(c.messages)) == (CAP, N - CAP)
    # The built-in rebalancer ran at this first start and moved nothing, saying why.
    limits = rt.db.transaction(
        lambda conn: {
            str(n): int(v)
            for n, v in conn.execute(select(SendingServer.name, SendingServer.sending_limit))
        }
    )
    assert limits == {"relay-a": CAP, "relay-c": 100}
    kept = rt.db.transaction(
        lambda conn: conn.execute(
            select(func.count()).where(AuditEntry.action == "rebalance.keep")
        ).scalar_one()
    )
    assert kept == 2
    (plan,) = pool["plans"]
    assert plan["plan"] == "P" and plan["shares"]


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so tables keep each row on one line.
    wide = {**env, "COLUMNS": "200"}
    return subprocess.run(
        [SENDPOOL, *args], cwd=cwd, env=wide, capture_output=True, text=True, timeout=120
    )


async def test_the_pool_file_doctor_and_the_database_in_use_beside_a_live_serve(
    live: Live, tmp_path: Path
) -> None:
    """Findings 3-5 against the running ``serve``: a change made through its API is drift the
    pool file keeps, doctor names the pool's symptoms, and a command run from another
    folder refuses to make a database of its own."""
    rt, base, (token, a, c) = live
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDPOOL_")}
    env |= {"SENDPOOL_DATABASE_URL": rt.settings.database_url}
    env["SENDPOOL_SECRET_KEY"] = rt.settings.secret_key or ""
    zone = noon_zone(datetime.now(UTC))
    pool = tmp_path / "pool.toml"
    pool.write_text(
        "".join(
            f'[[servers]]\nname = "{name}"\ntype = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
            f'encryption = "none"\nsending_limit = {cap}\ntimezone = "{zone}"\nenabled = true\n'
            for name, port, cap in (("relay-a", a.port, CAP), ("relay-c", c.port, 100))
        )
        + '[[plans]]\nname = "P"\nservers = ["relay-a"]\n'
    )
    # 4. Doctor names the symptoms of this pool: a server in no plan, a plan of one server.
    doctor = await asyncio.to_thread(_run, "doctor", "--json", cwd=tmp_path, env=env)
    checks = {ch["name"]: ch for ch in json.loads(doctor.stdout)["checks"]}
    assert "in no plan" in checks["server relay-c plans"]["detail"]
    assert checks["plan P servers"]["status"] == "warn"
    uid = rt.db.transaction(
        lambda conn: conn.execute(
            select(SendingServer.uid).where(SendingServer.name == "relay-c")
        ).scalar_one()
    )
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        r = await client.patch(f"/api/v1/admin/sending-servers/{uid}", json={"status": "disabled"})
        assert r.status_code == 200, r.text
    # 3. The dry run names the field changed through the API, as drift, and writes nothing.
    dry = await asyncio.to_thread(
        _run, "pool", "apply", "--dry-run", str(pool), cwd=tmp_path, env=env
    )
    flat = " ".join(dry.stdout.split())
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "server relay-c │ status │ disabled │ active (changed elsewhere: kept)" in flat
    real = await asyncio.to_thread(_run, "pool", "apply", str(pool), cwd=tmp_path, env=env)
    assert real.returncode == 1, real.stdout + real.stderr  # drift kept, and said so
    status = rt.db.transaction(
        lambda conn: conn.execute(
            select(SendingServer.status).where(SendingServer.uid == uid)
        ).scalar_one()
    )
    assert status == "disabled"
    # 5. From another folder, with no database named, a reading command refuses.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bare = {k: v for k, v in env.items() if k != "SENDPOOL_DATABASE_URL"}
    lost = await asyncio.to_thread(_run, "campaign", "list", cwd=elsewhere, env=bare)
    assert lost.returncode != 0
    said = " ".join((lost.stdout + lost.stderr).split())
    assert "no database at ./sendpool.db; run `sendpool migrate` here" in said
    assert list(elsewhere.iterdir()) == []
