"""``sendpool simulate``: the real dispatcher over virtual messages, sending and writing nothing."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sendpool.config import Settings
from sendpool.core.servers import Caps
from sendpool.runtime import Runtime
from sendpool.store.ledger_sql import reserve_sync
from sendpool.store.tables import SendingServer
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server
from tests.support.settings import make_settings


def opened() -> Runtime:
    """The runtime the CLI under test opens, from the same environment; use it in ``with``."""
    return Runtime.open(Settings())


def pool(servers: list[dict[str, Any]], **plan: Any) -> None:
    with opened() as rt:
        apply(
            rt,
            {
                "servers": servers,
                "plans": [{"name": "Marketing", "servers": [s["name"] for s in servers], **plan}],
            },
        )


def use(name: str, units: int) -> None:
    """Reserve quota on a server through the real SQL ledger, as sends would have."""
    now = datetime.now(UTC)
    with opened() as rt:

        def reserve(conn: Any) -> None:
            sid = conn.execute(SendingServer.__table__.select().where(SendingServer.name == name))
            server_id = sid.one().id
            caps = Caps(daily=1_000_000)
            from sendpool.core.windows import windows_at

            reserve_sync(conn, server_id, windows_at(now), caps, units, now)

        rt.db.transaction(reserve)


def split(output: str) -> dict[str, int]:
    """server -> messages, read from the split table's rows (the sticky map's read otherwise)."""
    rows = re.findall(r"^│ (\S+)\s+│\s+([\d,]+) │", output, re.M)
    return {name: int(n.replace(",", "")) for name, n in rows}


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_three_equal_servers_share_300_messages_evenly(cli: CliEnv) -> None:
    pool([smtp_server(f"relay-{i}", 2525 + i, 10_000) for i in range(3)])
    result = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "300"])
    assert result.exit_code == 0, result.output
    assert split(result.output) == {"relay-0": 100, "relay-1": 100, "relay-2": 100}
    assert result.output.count("33.3 %") == 3
    assert "300 is below the burst threshold of 5,000" in result.output
    assert "nothing was sent or written" in result.output
    again = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "300", "--workers", "4"])
    assert split(again.output) == split(result.output)


def test_a_warming_server_is_skipped_for_a_burst_with_its_reason(cli: CliEnv) -> None:
    today = datetime.now(UTC).date().isoformat()
    warm = {"start_daily": 50, "growth_percent": 50, "target_daily": 50_000, "started_on": today}
    pool(
        [
            smtp_server("relay-0", 2525, 10_000),
            smtp_server("relay-1", 2526, 10_000),
            smtp_server("warm", 2527, 10_000, warmup=warm),
        ],
        burst_threshold=200,
    )
    burst = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "300"])
    assert burst.exit_code == 0, burst.output
    assert "300 is at or above the burst threshold of 200" in burst.output
    assert split(burst.output) == {"relay-0": 150, "relay-1": 150, "warm": 0}
    assert "warm: 300 message(s): warming: skipped for burst send" in burst.output
    low = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "300", "--low-volume"])
    # Low-volume sends fill the warming server's warm-up cap first, then the others.
    assert split(low.output) == {"relay-0": 125, "relay-1": 125, "warm": 50}
    assert "warm-up cap 50/50 used" in low.output


def test_a_full_cap_shows_its_reason_and_the_overflow_waits(cli: CliEnv) -> None:
    pool([smtp_server("small", 2525, 40), smtp_server("used", 2526, 100)])
    use("used", 60)  # already sent today: the simulation starts from the real ledger
    before = dump(cli.db)
    result = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "300"])
    assert result.exit_code == 0, result.output
    assert split(result.output) == {"small": 40, "used": 40}
    assert "small: " in result.output and "daily cap 40/40 used" in result.output
    assert "daily cap 100/100 used" in result.output
    assert "80 would be sent now, 220 would wait" in result.output
    midnight = f"{datetime.now(UTC).date()}"
    waits = re.findall(r"^\s+([\d,]+) until (\S+ \S+) UTC: waiting: ", result.output, re.M)
    assert waits and sum(int(n) for n, _ in waits) == 220
    assert all(until > midnight for _, until in waits)
    assert dump(cli.db) == before


def test_nothing_is_written(cli: CliEnv) -> None:
    pool([smtp_server(f"relay-{i}", 2525 + i, 10_000) for i in range(3)])
    use("relay-1", 5)
    before = dump(cli.db)
    for args in (["--messages", "1000", "--burst"], ["--messages", "20000", "--workers", "3"]):
        result = cli.invoke(["simulate", "--plan", "Marketing", *args])
        assert result.exit_code == 0, result.output
    assert dump(cli.db) == before


def test_unknown_plan_is_a_clear_error(cli: CliEnv) -> None:
    pool([smtp_server("relay-0", 2525)])
    result = cli.invoke(["simulate", "--plan", "Nope", "--messages", "10"])
    assert result.exit_code == 2
    assert "unknown plan 'Nope'; known plans: Marketing" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--messages", "0"], "Invalid value for '--messages'"),
        (["--messages", "-5"], "--messages"),
        (["--messages", "1000000000000"], "--messages"),
        (["--messages", "lots"], "--messages"),
        (["--messages", "10", "--workers", "0"], "--workers"),
        (["--messages", "10", "--burst", "--low-volume"], "choose one of --burst and --low-volume"),
    ],
)
def test_bad_arguments_are_clear_errors(cli: CliEnv, args: list[str], message: str) -> None:
    pool([smtp_server("relay-0", 2525)])
    result = cli.invoke(["simulate", "--plan", "Marketing", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_missing_database_is_not_created(cli: CliEnv, tmp_path: Path) -> None:
    cli.use(make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/none.db"))
    result = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "10"])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())
    assert not (tmp_path / "none.db").exists()


def test_names_are_shown_as_written(cli: CliEnv) -> None:
    pool([smtp_server("relay-[eu]", 2525, 10)])
    result = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "11"])
    assert result.exit_code == 0, result.output
    assert split(result.output) == {"relay-[eu]": 10}
    assert "relay-[eu]: 1 message(s): daily cap 10/10 used" in result.output
    doctor = cli.invoke(["doctor"])
    assert "Marketing, burst: relay-[eu]\n" in doctor.output


def test_forecast_says_when_a_server_fills_and_what_then_waits(cli: CliEnv) -> None:
    pool([smtp_server("relay-a", 2525, 100), smtp_server("relay-b", 2526, 50)])
    use("relay-a", 40)
    result = cli.wide().invoke(
        ["simulate", "--plan", "Marketing", "--messages", "200", "--forecast", "--rate", "0"]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    # 60 left on relay-a, 50 on relay-b: both fill now, 90 wait for the day's end.
    assert "Forecast: relay-a reaches its daily cap at" in said
    assert "relay-b at" in said
    assert "90 messages would then wait until 00:00 UTC" in said


def test_forecast_refuses_a_bad_rate(cli: CliEnv) -> None:
    pool([smtp_server("relay-a", 2525, 100)])
    result = cli.invoke(
        ["simulate", "--plan", "Marketing", "--messages", "10", "--forecast", "--rate", "-1"]
    )
    assert result.exit_code == 2 and "--rate must be between 0" in result.output
