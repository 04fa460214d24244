"""The command line, driven as a user would, against real SMTP sinks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from sendpool.store.tables import Campaign, MailingList, Message, Subscriber
from tests.support.cli_env import CliEnv
from tests.support.loopback import refusing_port
from tests.support.threaded_sink import threaded_sinks


@pytest.fixture
def cli(cli: CliEnv) -> CliEnv:
    cli.setenv("SENDPOOL_POLL_INTERVAL", "0.02")
    cli.setenv("RELAY_PASSWORD", "unused")
    return cli


def write_pool(path: Path, ports: list[int]) -> Path:
    servers = "".join(
        f'[[servers]]\nname = "relay-{i}"\ntype = "smtp"\nhost = "127.0.0.1"\nport = {p}\n'
        f'encryption = "none"\nsending_limit = 10000\n\n'
        for i, p in enumerate(ports)
    )
    names = ", ".join(f'"relay-{i}"' for i in range(len(ports)))
    path.write_text(
        servers
        + f'[[plans]]\nname = "Marketing"\nservers = [{names}]\n\n'
        + '[[customers]]\nname = "acme"\nplan = "Marketing"\nsending_domains = ["example.com"]\n'
    )
    return path


def counts(db: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        return {
            t.__tablename__: c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Campaign, MailingList, Subscriber, Message)
        }


def people(path: Path, n: int) -> Path:
    path.write_text("email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(n)))
    return path


def test_help_is_enough_to_start(cli: CliEnv) -> None:
    result = cli.invoke(["--help"])
    assert result.exit_code == 0
    for command in ("demo", "worker", "migrate", "pool", "campaign", "servers"):
        assert command in result.output
    run_help = cli.invoke(["campaign", "run", "--help"]).output
    assert "--customer" in run_help and "--csv" in run_help and "--no-wait" in run_help
    assert "--wait-all" in run_help


def test_pool_apply_is_idempotent_from_the_command_line(cli: CliEnv, tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.toml", [2525, 2526])
    first = cli.invoke(["pool", "apply", str(pool)])
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    second = cli.invoke(["pool", "apply", str(pool)])
    assert (
        second.exit_code == 0 and "created" not in second.output and "updated" not in second.output
    )
    dry = cli.invoke(["pool", "apply", "--dry-run", str(write_pool(tmp_path / "p2.toml", [1]))])
    assert dry.exit_code == 0 and "dry run" in dry.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[servers]]\nname = "x"\ntype = "smtp"\nsending_limit = 1\n')
    result = cli.invoke(["pool", "apply", str(bad)])
    assert result.exit_code == 2 and "host: Field required" in result.output


def test_campaign_run_sends_through_the_pool_and_prints_json(cli: CliEnv, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Hello {{ first_name }}\n")
    with threaded_sinks(3) as sinks:
        cli.invoke(
            ["pool", "apply", str(write_pool(tmp_path / "pool.toml", [s.port for s in sinks]))]
        )
        result = cli.invoke(
            [
                "campaign",
                "run",
                "--customer",
                "acme",
                "--csv",
                str(people(tmp_path / "people.csv", 90)),
                "--subject",
                "Hi {{ first_name }}",
                "--from",
                "news@example.com",
                "--text",
                str(body),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        assert summary["by_status"] == {"sent": 90}
        assert summary["by_server"] == {"relay-0": 30, "relay-1": 30, "relay-2": 30}
        assert {k: v["count"] for k, v in summary["waiting"].items()} == {
            "deferred": 0,
            "window": 0,
            "paused": 0,
        }
        assert [s.count for s in sinks] == [30, 30, 30]
    status = cli.invoke(["campaign", "status", summary["campaign"], "--json"])
    assert json.loads(status.output)["by_server"] == summary["by_server"]
    table = cli.invoke(["campaign", "status", summary["campaign"]])
    assert "relay-1" in table.output and "33.3 %" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "Nope"], "unknown plan 'Nope'; known plans: Marketing"),
        (["--subject", "Hi\r\nBcc: victim@example.com"], "header injection refused"),
        (["--from", "not an address"], "invalid email address"),
        (["--from", "news@example.com\r\nBcc: x@example.com"], "line break"),
        (["--customer", "globex"], "unknown customer 'globex'"),
        (["--subject", "{{ broken"], "not a valid template"),
        (["--csv", "missing.csv"], "does not exist"),
        (["--csv", "bad.csv"], "no 'email' column"),
        (["--csv", "invalid.csv"], "has no valid rows"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(
    cli: CliEnv, tmp_path: Path, args: list[str], message: str
) -> None:
    cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [2525]))])
    (tmp_path / "bad.csv").write_text("name\nada\n")
    (tmp_path / "invalid.csv").write_text("email\nnope\nalso nope\n")
    body = tmp_path / "body.txt"
    body.write_text("Hello\n")
    base = {
        "--customer": "acme",
        "--csv": str(people(tmp_path / "p.csv", 3)),
        "--subject": "Hi",
        "--from": "news@example.com",
        "--text": str(body),
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["campaign", "run", "--no-wait"] + [x for kv in base.items() for x in kv]
    result = cli.invoke(argv)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert counts(cli.db) == {"campaigns": 0, "lists": 0, "subscribers": 0, "messages": 0}


def test_servers_list_and_test(cli: CliEnv, tmp_path: Path) -> None:
    with threaded_sinks(1) as sinks:
        cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [sinks[0].port, 1]))])
        ok = cli.invoke(
            [
                "servers",
                "test",
                "relay-0",
                "--send-to",
                "ops@example.com",
                "--from",
                "t@example.com",
            ],
        )
        assert ok.exit_code == 0, ok.output
        assert "connection ok" in ok.output and "test email accepted" in ok.output
        assert sinks[0].count == 1
    down = cli.invoke(["servers", "test", "relay-1"])
    assert down.exit_code == 1 and "failed" in down.output
    listing = cli.invoke(["servers", "list"])
    assert (
        "relay-0" in listing.output and "healthy" in listing.output and "degraded" in listing.output
    )
    missing = cli.invoke(["servers", "test", "nope"])
    assert missing.exit_code == 2 and "unknown sending server" in missing.output


def test_names_and_replies_with_brackets_print_as_written(cli: CliEnv, tmp_path: Path) -> None:
    # "[eu]" and "[bold]" would be Rich markup; server replies often quote "[host]".
    with refusing_port() as port:
        pool = tmp_path / "pool.toml"
        pool.write_text(
            f'[[servers]]\nname = "relay [eu]"\ntype = "smtp"\nhost = "127.0.0.1"\n'
            f'port = {port}\nencryption = "none"\nsending_limit = 10\n'
        )
        assert cli.invoke(["pool", "apply", str(pool)]).exit_code == 0
        down = cli.invoke(["servers", "test", "relay [eu]"])
    assert down.exit_code == 1 and "relay [eu] (smtp): connection failed" in down.output
    listing = cli.invoke(["servers", "list"])
    assert "relay [eu]" in listing.output
    missing = cli.invoke(["servers", "test", "[bold]nope"])
    assert missing.exit_code == 2 and "[bold]nope" in missing.output


def test_demo_runs_end_to_end(cli: CliEnv) -> None:
    result = cli.invoke(["demo", "--subscribers", "60"])
    assert result.exit_code == 0, result.output
    assert "Act 1" in result.output and "Act 2" in result.output
    assert "warming: skipped for burst send" in result.output
