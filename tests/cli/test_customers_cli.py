"""``sendpool customers domains``: add, list and remove a customer's sending domains."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli_env import CliEnv
from tests.support.snapshots import db_snapshot


def pool_file(tmp_path: Path) -> Path:
    path = tmp_path / "pool.toml"
    path.write_text(
        '[[customers]]\nname = "acme"\nsending_domains = ["Example.com"]\n\n'
        '[[customers]]\nname = "globex"\n'
    )
    return path


def said(output: str) -> str:
    """The output as one line: the consoles wrap long lines at their width."""
    return " ".join(output.split())


def listed(cli: CliEnv, customer: str) -> list[str]:
    result = cli.invoke(["customers", "domains", "list", customer, "--json"])
    assert result.exit_code == 0, result.output
    return [d["domain"] for d in json.loads(result.output)["domains"]]


def test_add_list_remove(cli: CliEnv, tmp_path: Path) -> None:
    cli.wide()
    assert cli.invoke(["pool", "apply", str(pool_file(tmp_path))]).exit_code == 0
    assert listed(cli, "acme") == ["example.com"]
    added = cli.invoke(["customers", "domains", "add", "acme", "Bücher.example"])
    assert added.exit_code == 0, added.output
    assert "xn--bcher-kva.example" in added.output
    assert listed(cli, "acme") == ["example.com", "xn--bcher-kva.example"]
    table = cli.invoke(["customers", "domains", "list", "acme"])
    assert "pool file" in table.output and "cli" in table.output  # who added each
    removed = cli.invoke(["customers", "domains", "remove", "acme", "example.com"])
    assert removed.exit_code == 0, removed.output
    assert listed(cli, "acme") == ["xn--bcher-kva.example"]
    empty = cli.invoke(["customers", "domains", "list", "globex"])
    assert "every From address of this customer is refused" in said(empty.output)


def test_mistakes_are_one_line_exit_2_and_change_nothing(cli: CliEnv, tmp_path: Path) -> None:
    assert cli.invoke(["pool", "apply", str(pool_file(tmp_path))]).exit_code == 0
    with cli.open() as rt:
        before = db_snapshot(rt)
    for args, message in [
        (["add", "nobody", "example.org"], "unknown customer 'nobody'"),
        (["add", "acme", "not a domain"], "not a domain name"),
        (["add", "acme", "exa\nmple.com"], "control characters"),
        (["add", "globex", "example.com"], "another customer"),
        (["add", "globex", "*.Example.com"], "clashes with example.com"),
        (["remove", "globex", "example.com"], "has no sending domain 'example.com'"),
        (["list", "nobody"], "unknown customer"),
    ]:
        result = cli.invoke(["customers", "domains", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in said(result.output), (args, result.output)
    with cli.open() as rt:
        assert db_snapshot(rt) == before


def test_campaign_run_from_a_domain_the_customer_lacks(cli: CliEnv, tmp_path: Path) -> None:
    assert cli.invoke(["pool", "apply", str(pool_file(tmp_path))]).exit_code == 0
    csv = tmp_path / "people.csv"
    csv.write_text("email\np@example.org\n")
    body = tmp_path / "body.txt"
    body.write_text("Hello")
    with cli.open() as rt:
        before = db_snapshot(rt)
    args = ["campaign", "run", "--customer", "globex", "--csv", str(csv), "--subject", "S"]
    result = cli.invoke([*args, "--from", "news@example.com", "--text", str(body), "--no-wait"])
    assert result.exit_code == 2, result.output
    assert "example.com is not a verified sending domain" in said(result.output)
    assert "sendpool customers domains add globex example.com" in said(result.output)
    with cli.open() as rt:
        assert db_snapshot(rt) == before
