"""``sendpool doctor``: each check's verdict and the next step, from the command line."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, select, update

from sendpool.config import Settings
from sendpool.core.outcomes import Stage, smtp_outcome
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.services.servers.checks import record_check
from sendpool.store.ledger_sql import reserve_sync
from sendpool.store.tables import Message, SendingServer
from sendpool.transports.base import Health
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings
from tests.support.threaded_sink import threaded_sinks


@pytest.fixture
def cli(cli: CliEnv) -> CliEnv:
    cli.setenv("RELAY_PASSWORD", "s3cret")
    return cli


def latest_revision() -> str:
    from alembic.script import ScriptDirectory

    from sendpool.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def opened() -> Runtime:
    """The runtime the CLI under test opens, from the same environment; use it in ``with``."""
    return Runtime.open(Settings())


def pool(ports: list[int], *, limits: list[int] | None = None, auth: bool = False) -> None:
    limits = limits or [10_000] * len(ports)
    login = {"username": "mailer", "password_env": "RELAY_PASSWORD"} if auth else {}
    servers = [
        smtp_server(f"relay-{i}", p, lim, **login)
        for i, (p, lim) in enumerate(zip(ports, limits, strict=True))
    ]
    with opened() as rt:
        apply(
            rt,
            {
                "servers": servers,
                "plans": [{"name": "Marketing", "servers": [s["name"] for s in servers]}],
                "customers": [
                    {"name": "acme", "plan": "Marketing", "sending_domains": ["example.com"]}
                ],
            },
            env={"RELAY_PASSWORD": "s3cret"},
        )


def server_id(conn: Connection, name: str) -> int:
    return int(
        conn.execute(select(SendingServer.id).where(SendingServer.name == name)).scalar_one()
    )


def flat(output: str) -> str:
    return " ".join(output.split())


def table(output: str) -> dict[str, tuple[str, str]]:
    """check -> (status, detail), the detail's wrapped lines joined again."""
    out: dict[str, tuple[str, str]] = {}
    name = ""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) != 5:
            continue
        if cells[1]:
            name = cells[1]
            out[name] = (cells[2], cells[3])
        elif name:
            status, detail = out[name]
            out[name] = (status, f"{detail} {cells[3]}".strip())
    return out


def rows(output: str) -> dict[str, str]:
    return {name: status for name, (status, _) in table(output).items()}


def detail(output: str, check: str) -> str:
    return table(output)[check][1]


def test_a_healthy_setup_passes_and_checks_servers(cli: CliEnv) -> None:
    with threaded_sinks(2) as sinks:
        pool([s.port for s in sinks])
        result = cli.invoke(["doctor", "--check-servers"])
    assert result.exit_code == 0, result.output
    assert rows(result.output) == {
        "database": "ok",
        "schema": "ok",
        "secret key": "ok",
        "check relay-0": "ok",
        "check relay-1": "ok",
        "workers": "ok",
        "queue": "ok",
        "server relay-0": "ok",
        "server relay-1": "ok",
        "plan Marketing": "ok",
    }
    assert detail(result.output, "schema") == f"at the latest migration ({latest_revision()})"
    assert (
        detail(result.output, "secret key")
        == "from SENDPOOL_SECRET_KEY; no server has stored secrets"
    )
    assert detail(result.output, "check relay-0").startswith("connection ok: connect / EHLO")
    assert detail(result.output, "server relay-0").startswith(
        "healthy, checked just now; today 0/10,000"
    )
    plan = "low-volume: relay-0, relay-1; burst: relay-0, relay-1"
    assert detail(result.output, "plan Marketing") == plan
    text = flat(result.output)
    assert "Marketing, low-volume: relay-0, relay-1" in text
    assert "Marketing, burst: relay-0, relay-1" in text
    listing = cli.invoke(["servers", "list"])
    assert listing.output.count("healthy") == 2  # the checks were recorded


def test_a_degraded_server_and_a_full_cap_show_their_reasons(cli: CliEnv) -> None:
    pool([2525, 2526, 2527], limits=[10_000, 40, 10_000])
    now = datetime.now(UTC)
    with opened() as rt:

        def degrade_and_fill(conn: Connection) -> None:
            down = Health(False, "connection refused by 127.0.0.1:2525")
            record_check(conn, server_id(conn, "relay-0"), down, 300)
            full = server_id(conn, "relay-1")
            reserve_sync(conn, full, windows_at(now), Caps(daily=40), 40, now)

        rt.db.transaction(degrade_and_fill)
        make_campaign(rt, 6)
        later, why = now + timedelta(hours=1), "waiting: relay-1: daily cap 40/40 used"

        def hold_some(conn: Connection) -> None:
            ids = conn.execute(select(Message.id).order_by(Message.id).limit(4)).scalars().all()
            values = {"due_at": later, "last_error": why}
            conn.execute(update(Message).where(Message.id.in_(ids)).values(**values))

        rt.db.transaction(hold_some)
    result = cli.invoke(["doctor"])
    assert result.exit_code == 0, result.output  # warnings only: the pool still sends
    assert rows(result.output) | {} == {
        "database": "ok",
        "schema": "ok",
        "secret key": "ok",
        "workers": "warn",
        "queue": "ok",
        "server relay-0": "warn",
        "server relay-1": "warn",
        "server relay-2": "ok",
        "plan Marketing": "ok",
    }
    text = flat(result.output)
    assert "skips relay-0: degraded: waiting for a passing health check" in text
    assert "skips relay-1: daily cap 40/40 used, resets" in text
    assert "Marketing, burst: relay-2" in text
    assert "no live worker, and 2 message(s) are due" in text
    assert f"4 {why}" in text


def test_a_relay_that_refuses_to_relay_for_us_fails_with_its_reason(cli: CliEnv) -> None:
    """Degraded by 554 5.7.1 Relay access denied: it passes health checks, so nothing
    brings it back by itself; doctor says so, with the reply and what to check."""
    pool([2525, 2526])
    now = datetime.now(UTC)
    refused = smtp_outcome(Stage.RCPT, 554, "5.7.1 <user0@example.com>: Relay access denied")
    with opened() as rt:

        def degrade(conn: Connection) -> None:
            values = {
                "health": "degraded",
                "health_error": refused.describe(),
                "degraded_at": now,
                "next_check_at": now + timedelta(minutes=5),
            }
            conn.execute(
                update(SendingServer).where(SendingServer.name == "relay-0").values(values)
            )

        rt.db.transaction(degrade)
    result = cli.invoke(["doctor", "--json"])
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    relay = checks["server relay-0"]
    assert relay["status"] == "fail"
    assert "last error: rcpt: 554 5.7.1 <user0@example.com>: Relay access denied" in relay["detail"]
    assert relay["advice"].startswith(
        "the relay refuses to relay for us: check its credentials / allowed senders"
    )
    assert "`sendpool servers test relay-0`" in relay["advice"]
    assert checks["server relay-1"]["status"] == "ok"
    assert checks["plan Marketing"]["status"] == "ok", "relay-1 still sends"
    table_view = cli.wide().invoke(["doctor"])
    assert rows(table_view.output)["server relay-0"] == "fail"
    assert "the relay refuses to relay for us" in flat(table_view.output)


def test_a_wrong_secret_key_fails_and_says_what_to_do(cli: CliEnv) -> None:
    pool([2525, 2526], auth=True)
    cli.setenv("SENDPOOL_SECRET_KEY", Fernet.generate_key().decode())
    result = cli.invoke(["doctor", "--check-servers"])
    assert result.exit_code == 1, result.output
    assert rows(result.output)["secret key"] == "fail"
    assert rows(result.output)["server checks"] == "fail"
    secret = detail(result.output, "secret key")
    assert "cannot decrypt the stored secrets of relay-0, relay-1 (2 of 2" in secret
    assert "→ set SENDPOOL_SECRET_KEY back to the key they were stored with" in secret
    assert rows(result.output)["plan Marketing"] == "ok"  # the rest is still examined


def test_json_parses_and_matches_the_table(cli: CliEnv) -> None:
    pool([2525, 2526], limits=[10_000, 0])
    result = cli.invoke(["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["server relay-1"]["status"] == "warn"
    assert checks["server relay-1"]["advice"] == "set sending_limit above 0 in the pool file"
    assert report["queue"]["by_status"] == {}
    burst = [p for p in report["dispatch"] if p["send_class"] == "burst"]
    assert burst[0]["candidates"] == ["relay-0"]
    assert burst[0]["skipped"][0]["reason"] == "sending limit is 0: sends nothing"
    assert {s["name"]: s["day_cap"] for s in report["servers"]} == {"relay-0": 10_000, "relay-1": 0}
    datetime.fromisoformat(report["at"])


def test_a_plan_that_cannot_send_fails(cli: CliEnv) -> None:
    with opened() as rt:
        apply(rt, {"servers": [smtp_server("relay-0", 2525, 0)], "plans": [{"name": "Lonely"}]})
    result = cli.invoke(["doctor"])
    assert result.exit_code == 1
    assert rows(result.output)["plan Lonely"] == "fail"
    assert "no sending server is attached to this plan" in flat(result.output)


def test_missing_database_is_reported_not_created(cli: CliEnv, tmp_path: Path) -> None:
    cli.use(make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/none.db", secret_key=None))
    result = cli.invoke(["doctor"])
    assert result.exit_code == 1
    assert rows(result.output) == {"database": "fail", "secret key": "warn"}
    assert "does not exist → check SENDPOOL_DATABASE_URL, or run `sendpool migrate`" in detail(
        result.output, "database"
    )
    assert list(tmp_path.iterdir()) == []  # neither a database nor a key file appeared


def test_a_schema_from_another_version_fails(cli: CliEnv) -> None:
    pool([2525])
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    result = cli.invoke(["doctor"])
    assert result.exit_code == 1
    assert rows(result.output)["schema"] == "fail"
    assert "9999_future, which this sendpool does not know" in detail(result.output, "schema")


def test_redis_unreachable_fails(cli: CliEnv) -> None:
    pool([2525])
    cli.setenv("SENDPOOL_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    result = cli.invoke(["doctor"])
    assert result.exit_code == 1
    assert rows(result.output)["redis"] == "fail"
    assert "cannot reach redis://:***@127.0.0.1:1/0" in detail(result.output, "redis")
    assert "hunter2" not in result.output
    assert "usage unknown while Redis is unreachable" in detail(result.output, "server relay-0")


def test_redis_reachable(cli: CliEnv, redis_url: str) -> None:
    pool([2525])
    cli.setenv("SENDPOOL_REDIS_URL", redis_url)
    result = cli.invoke(["doctor", "--json"])
    checks: dict[str, Any] = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["redis"]["status"] in ("ok", "warn"), checks["redis"]
    assert "reachable" in checks["redis"]["detail"]
