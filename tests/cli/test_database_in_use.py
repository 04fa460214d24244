"""The database in use is never a surprise: a command run in the wrong folder creates nothing.

Run from another folder, commands once created an empty database and a new
key beside them, then answered "unknown campaign". Now every command that
reads state refuses a database that does not exist and says what to do;
only ``migrate``, ``demo`` and ``serve`` create one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_env import CliEnv

SAID = "no database at ./sendpool.db; run `sendpool migrate` here or set SENDPOOL_DATABASE_URL"


@pytest.fixture
def elsewhere(cli: CliEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another, empty folder, with no SENDPOOL_DATABASE_URL: the default ./sendpool.db."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("SENDPOOL_DATABASE_URL")
    monkeypatch.delenv("SENDPOOL_SECRET_KEY")
    cli.migrated = None  # the test's own database is not this folder's
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["campaign", "status", "0123456789abcdef"],
        ["campaign", "list"],
        ["servers", "list"],
        ["token", "list"],
        ["rebalance", "--dry-run"],
        ["send-waiting-now", "--plan", "Marketing"],
        ["pool", "apply", "pool.toml"],
        ["worker"],
    ],
)
def test_reading_commands_refuse_a_missing_database(
    cli: CliEnv, elsewhere: Path, args: list[str]
) -> None:
    (elsewhere / "pool.toml").write_text('[[plans]]\nname = "Marketing"\n')
    result = cli.wide().invoke(args)
    assert result.exit_code == 2, result.output
    assert SAID in " ".join(result.output.split())
    assert sorted(p.name for p in elsewhere.iterdir()) == ["pool.toml"]  # no database, no key


def test_migrate_creates_it_and_then_commands_work(cli: CliEnv, elsewhere: Path) -> None:
    assert cli.invoke(["servers", "list"]).exit_code == 2
    made = cli.invoke(["migrate"])
    assert made.exit_code == 0, made.output
    assert (elsewhere / "sendpool.db").exists()
    listed = cli.invoke(["servers", "list"])
    assert listed.exit_code == 0, listed.output


def test_an_absolute_path_is_named_as_it_is(
    cli: CliEnv, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{elsewhere}/other.db"
    monkeypatch.setenv("SENDPOOL_DATABASE_URL", url)
    result = cli.wide().invoke(["servers", "list"])
    assert result.exit_code == 2
    assert f"no database at {elsewhere}/other.db;" in " ".join(result.output.split())
    assert list(elsewhere.iterdir()) == []
