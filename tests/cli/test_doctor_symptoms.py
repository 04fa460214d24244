"""Doctor names the seed's own symptoms, and forecasts when a plan runs out of room.

It once called a server in no plan "ok", and said nothing of a plan whose
30-day split was 100/0, of a plan with one server that can send, or of a 5 %
bounce rate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.servers.checks import record_check
from sendpool.transports.base import Health
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.seeding import seed_activity


def _doctor(cli: CliEnv) -> dict[str, dict[str, Any]]:
    result = cli.invoke(["doctor", "--json"])
    return {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_the_seed_s_symptoms_are_named(cli: CliEnv) -> None:
    now = datetime.now(UTC)
    with Runtime.open(Settings()) as rt:
        apply(
            rt,
            {
                "servers": [
                    smtp_server("relay-a", 9, 10_000),
                    smtp_server("relay-b", 9, 10_000, enabled=False),
                    smtp_server("idle", 9, 1000),
                ],
                "plans": [{"name": "Marketing", "servers": ["relay-a", "relay-b"]}],
                "customers": [{"name": "acme", "plan": "Marketing"}],
            },
        )

        def traffic(conn: Connection) -> None:
            # Everything of the last days through relay-a, 5 % of it bouncing.
            seed_activity(conn, "relay-a", sent=1000, bounces=50, complaints=0, now=now)
            for days in (3, 9):
                then = now - timedelta(days=days)
                seed_activity(conn, "relay-a", sent=500, bounces=0, complaints=0, now=then)

        rt.db.transaction(traffic)
    checks = _doctor(cli)
    assert checks["server idle plans"]["status"] == "warn"
    assert "in no plan" in checks["server idle plans"]["detail"]
    one = checks["plan Marketing servers"]
    assert one["status"] == "warn"
    assert one["detail"] == "one effective server (relay-a) of 2: relay-b disabled"
    split = checks["plan Marketing split"]
    assert split["status"] == "fail"
    assert "relay-a 100 % / relay-b 0 %" in split["detail"]
    assert "relay-b disabled or out of the plan: bug — fix" in split["detail"]
    bounces = checks["bounces relay-a"]
    assert bounces["status"] == "warn" and "bounce rate 5.00 %" in bounces["detail"]


def test_a_healthy_round_robin_reads_as_one(cli: CliEnv) -> None:
    now = datetime.now(UTC)
    with Runtime.open(Settings()) as rt:
        apply(
            rt,
            {
                "servers": [smtp_server(f"relay-{i}", 9, 10_000) for i in range(3)],
                "plans": [{"name": "Marketing", "servers": [f"relay-{i}" for i in range(3)]}],
                "customers": [{"name": "acme", "plan": "Marketing"}],
            },
        )

        def traffic(conn: Connection) -> None:
            for i, n in enumerate((330, 330, 340)):
                seed_activity(conn, f"relay-{i}", sent=n, bounces=0, complaints=0, now=now)

        rt.db.transaction(traffic)
    checks = _doctor(cli)
    assert checks["plan Marketing split"]["status"] == "ok"
    assert "healthy round-robin" in checks["plan Marketing split"]["detail"]
    assert "server relay-0 plans" not in checks and "plan Marketing servers" not in checks
    assert not [n for n in checks if n.startswith("bounces ")]


def test_the_forecast_row_says_when_room_runs_out(cli: CliEnv) -> None:
    with Runtime.open(Settings()) as rt:
        apply(
            rt,
            {
                "servers": [smtp_server("relay-a", 9, 20)],
                "plans": [{"name": "Marketing", "servers": ["relay-a"]}],
                "customers": [{"name": "acme", "plan": "Marketing", "sending_domains": ["x.io"]}],
            },
        )
        make_campaign(rt, 60, sender="news@x.io")
    row = _doctor(cli)["forecast Marketing"]
    assert row["status"] == "warn"
    assert row["detail"].startswith("relay-a reaches its daily cap at ")
    assert "messages would then wait until 00:00 UTC" in row["detail"]


def test_an_auth_error_flatline_fails(cli: CliEnv) -> None:
    with Runtime.open(Settings()) as rt:
        apply(
            rt,
            {
                "servers": [smtp_server("relay-a", 9, 100), smtp_server("relay-b", 9, 100)],
                "plans": [{"name": "Marketing", "servers": ["relay-a", "relay-b"]}],
            },
        )
        refused = Health(False, "535 5.7.8 Authentication credentials invalid")
        rt.db.transaction(lambda c: record_check(c, refs.server_id(c, "relay-a"), refused, 300))
    checks = _doctor(cli)
    row = checks["server relay-a sign-in"]
    assert row["status"] == "fail" and "authentication refused and never sent" in row["detail"]
    assert "server relay-b sign-in" not in checks
