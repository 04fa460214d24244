"""``sendpool token`` and the command-line faces of the API: made once, hashed, revocable."""

from __future__ import annotations

import hashlib
import socket

import pytest
from sqlalchemy import create_engine, select

from sendpool.config import Settings
from sendpool.store.tables import ApiToken
from tests.support.cli_env import CliEnv


@pytest.fixture
def cli(cli: CliEnv, world_settings: Settings) -> CliEnv:
    return cli.use(world_settings).wide()


def test_token_create_prints_once_and_stores_only_a_hash(cli: CliEnv) -> None:
    made = cli.invoke(["token", "create", "--customer", "tenant-a", "--name", "shop"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("sp_")
    engine = create_engine(cli.settings.database_url)
    with engine.connect() as conn:
        hashes = conn.execute(select(ApiToken.token_hash)).scalars().all()
    engine.dispose()
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert all(token not in h for h in hashes)
    listed = cli.invoke(["token", "list"])
    assert "shop" in listed.output and "customer tenant-a" in listed.output
    assert token not in listed.output


def test_token_revoke(cli: CliEnv) -> None:
    made = cli.invoke(["token", "create", "--admin", "--name", "laptop"])
    assert made.exit_code == 0
    listed = cli.invoke(["token", "list"]).output
    uid = next(line.split("│")[1].strip() for line in listed.splitlines() if "laptop" in line)
    done = cli.invoke(["token", "revoke", uid])
    assert done.exit_code == 0 and "revoked" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "create", "--name", "x"], "exactly one of --admin or --customer"),
        (["token", "create", "--admin", "--customer", "tenant-a", "--name", "x"], "exactly one"),
        (["token", "create", "--customer", "ghost", "--name", "x"], "unknown customer"),
        (["token", "create", "--admin", "--name", "   "], "token name"),
        (["token", "revoke", "nope"], "unknown token"),
        (["serve", "--port", "70000"], "less than or equal to 65535"),
        (["serve", "--host", "no such host.invalid"], "cannot listen"),
    ],
)
def test_bad_command_lines_are_refused_clearly(cli: CliEnv, args: list[str], message: str) -> None:
    before = cli.invoke(["token", "list"]).output
    result = cli.invoke(args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert cli.invoke(["token", "list"]).output == before


def test_serve_on_a_busy_port_says_so(cli: CliEnv) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli.invoke(["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
