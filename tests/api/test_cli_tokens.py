"""``sendpool token`` and the command-line faces of the API: made once, hashed, revocable."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from sendpool.cli import common
from sendpool.cli.app import app
from sendpool.config import Settings
from sendpool.store.tables import ApiToken

runner = CliRunner()


@pytest.fixture
def env(world_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("SENDPOOL_DATABASE_URL", world_settings.database_url)
    monkeypatch.setenv("SENDPOOL_SECRET_KEY", world_settings.secret_key or "")
    # The console measured the terminal when it was made; widen it for the tables.
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.chdir(tmp_path)
    return world_settings


def test_token_create_prints_once_and_stores_only_a_hash(env: Settings) -> None:
    made = runner.invoke(app, ["token", "create", "--customer", "tenant-a", "--name", "shop"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("sp_")
    engine = create_engine(env.database_url)
    with engine.connect() as conn:
        hashes = conn.execute(select(ApiToken.token_hash)).scalars().all()
    engine.dispose()
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert all(token not in h for h in hashes)
    listed = runner.invoke(app, ["token", "list"])
    assert "shop" in listed.output and "customer tenant-a" in listed.output
    assert token not in listed.output


def test_token_revoke(env: Settings) -> None:
    made = runner.invoke(app, ["token", "create", "--admin", "--name", "laptop"])
    assert made.exit_code == 0
    listed = runner.invoke(app, ["token", "list"]).output
    uid = next(line.split("│")[1].strip() for line in listed.splitlines() if "laptop" in line)
    done = runner.invoke(app, ["token", "revoke", uid])
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
def test_bad_command_lines_are_refused_clearly(
    env: Settings, args: list[str], message: str
) -> None:
    before = runner.invoke(app, ["token", "list"]).output
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert runner.invoke(app, ["token", "list"]).output == before


def test_serve_on_a_busy_port_says_so(env: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
