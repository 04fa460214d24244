"""``sendpool campaign list`` and ``status`` by name, ``run --no-wait``, and flags in ``--help``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import people, write_pool
from tests.support.cli_env import CliEnv
from tests.support.threaded_sink import threaded_sinks


@pytest.fixture
def cli(cli: CliEnv) -> CliEnv:
    cli.setenv("SENDPOOL_POLL_INTERVAL", "0.02")
    return cli.wide()


def run(cli: CliEnv, tmp_path: Path, name: str, *extra: str) -> str:
    body = tmp_path / "body.txt"
    body.write_text("Hello\n")
    result = cli.invoke(
        ["campaign", "run", "--customer", "acme", "--csv", str(people(tmp_path / "p.csv", 4)),
         "--subject", "Hi", "--from", "news@example.com", "--text", str(body),
         "--name", name, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command", [["campaign", "run"], ["campaign", "status"], ["campaign", "list"],
                ["servers", "test"], ["pool", "apply"]],
)  # fmt: skip
def test_help_shows_no_value_type_on_plain_flags(cli: CliEnv, command: list[str]) -> None:
    result = cli.invoke([*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_run_without_waiting_prints_a_summary_not_an_empty_table(
    cli: CliEnv, tmp_path: Path
) -> None:
    cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [1]))])
    output = run(cli, tmp_path, "Later news", "--no-wait")
    assert "nothing sent yet" in output and "queued 4" in output
    assert "messages sent" not in output and "share" not in output


def test_list_filters_and_status_by_name(cli: CliEnv, tmp_path: Path) -> None:
    with threaded_sinks(1) as sinks:
        cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [sinks[0].port]))])
        run(cli, tmp_path, "Sent news", "--json")
    cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [1]))])
    run(cli, tmp_path, "Queued news", "--no-wait")
    run(cli, tmp_path, "Queued news", "--no-wait")

    listing = cli.invoke(["campaign", "list", "--json"])
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)
    assert [r["name"] for r in rows] == ["Queued news", "Queued news", "Sent news"]
    assert rows[2]["sent"] == 4 and rows[2]["customer"] == "acme"
    table = cli.invoke(["campaign", "list"])
    assert "Sent news" in table.output and "3 campaign(s)" in table.output
    done = json.loads(cli.invoke(["campaign", "list", "--status", "done", "--json"]).output)
    assert [r["name"] for r in done] == ["Sent news"]
    none = json.loads(cli.invoke(["campaign", "list", "--customer", "acme", "--limit", "1",
                                  "--json"]).output)  # fmt: skip
    assert len(none) == 1
    bad = cli.invoke(["campaign", "list", "--status", "lost"])
    assert bad.exit_code == 2 and "unknown status 'lost'" in bad.output
    nobody = cli.invoke(["campaign", "list", "--customer", "globex"])
    assert nobody.exit_code == 2 and "unknown customer 'globex'" in nobody.output

    by_name = cli.invoke(["campaign", "status", "sent NEWS", "--json"])
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.output)["by_status"] == {"sent": 4}
    twice = cli.invoke(["campaign", "status", "Queued news"])
    assert twice.exit_code == 2 and "2 campaigns are named 'Queued news'" in twice.output
    assert rows[0]["campaign"] in twice.output and rows[1]["campaign"] in twice.output
    by_uid = cli.invoke(["campaign", "status", rows[0]["campaign"], "--json"])
    assert json.loads(by_uid.output)["campaign"] == rows[0]["campaign"]
    missing = cli.invoke(["campaign", "status", "nope"])
    assert missing.exit_code == 2 and "no campaign with uid or name 'nope'" in missing.output


def test_a_test_email_without_a_default_sender_asks_for_from(cli: CliEnv, tmp_path: Path) -> None:
    with threaded_sinks(1) as sinks:
        cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", [sinks[0].port]))])
        refused = cli.invoke(["servers", "test", "relay-0", "--send-to", "ops@example.com"])
        assert refused.exit_code == 2
        assert "--from" in refused.output and sinks[0].count == 0
        ok = cli.invoke(["servers", "test", "relay-0", "--send-to", "ops@example.com",
                         "--from", "ops@example.com"])  # fmt: skip
        assert ok.exit_code == 0, ok.output
        assert sinks[0].count == 1
