"""``sendpool simulate --policy``: each selector over the same domain mix, side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_simulate import dump, opened, pool, split
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server

MIX = "gmail.com=40,yahoo.com=20,example.org=30,example.net=10"


def three() -> None:
    pool([smtp_server(f"relay-{i}", 2525 + i, 100_000) for i in range(3)])


def simulate(cli: CliEnv, *args: str) -> Any:
    result = cli.invoke(["simulate", "--plan", "Marketing", *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def sticky_map(policy: Any) -> dict[str, dict[str, int]]:
    lines = policy["sticky_map"]
    assert isinstance(lines, list)
    return {d["domain"]: {s["server"]: s["messages"] for s in d["servers"]} for d in lines}


def test_sticky_domain_puts_each_domain_on_one_server(cli: CliEnv) -> None:
    three()
    data = simulate(cli, "--messages", "1000", "--policy", "sticky_domain", "--domains", MIX)
    (policy,) = data["policies"]
    assert policy["policy"] == "sticky_domain"
    got = sticky_map(policy)
    assert {d: sum(s.values()) for d, s in got.items()} == {
        "gmail.com": 400,
        "yahoo.com": 200,
        "example.org": 300,
        "example.net": 100,
    }
    assert all(len(servers) == 1 for servers in got.values())
    assert data["mix"] == "--domains" and policy["waiting"] == 0


def test_all_policies_side_by_side(cli: CliEnv) -> None:
    three()
    before = dump(cli.db)
    data = simulate(cli, "--messages", "600", "--policy", "all", "--domains", MIX)
    policies = {p["policy"]: p for p in data["policies"]}
    assert {"round_robin", "sticky_domain", "sticky_provider"} <= set(policies)
    assert next(iter(policies)) == "round_robin"
    # Round-robin spreads every domain over the three; sticky keeps each on one.
    assert all(len(s) == 3 for s in sticky_map(policies["round_robin"]).values())
    assert all(len(s) == 1 for s in sticky_map(policies["sticky_domain"]).values())
    for p in policies.values():
        assert sum(s["messages"] for s in p["split"]) == 600
    assert dump(cli.db) == before

    shown = cli.wide().invoke(
        [
            "simulate",
            "--plan",
            "Marketing",
            "--messages",
            "600",
            "--policy",
            "all",
            "--domains",
            MIX,
        ]
    )
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "messages per server, by policy" in out
    assert "── sticky_domain ──" in out and "── round_robin ──" in out
    assert "domains → servers (top 4 of 4)" in out
    assert "4 of 4 domain(s) went to a single server" in out
    assert "0 of 4 domain(s) went to a single server" in out
    assert re.search(r"│ gmail\.com\s+│ relay-\d\s+│\s+240 │", out)


def test_a_full_server_hands_its_domains_over_and_the_waits_say_why(cli: CliEnv) -> None:
    pool([smtp_server("small", 2525, 50), smtp_server("big", 2526, 300)])
    data = simulate(cli, "--messages", "400", "--policy", "sticky_domain", "--domains", MIX)
    (policy,) = data["policies"]
    got = sticky_map(policy)
    # Whatever "small" took before its cap filled, the rest of its domains went to "big".
    assert sum(s.get("small", 0) for s in got.values()) == 50
    assert sum(s.get("big", 0) for s in got.values()) == 300
    assert any(k["reason"].startswith("daily cap 50/50 used") for k in policy["skips"])
    waits = policy["waits"]
    assert sum(w["messages"] for w in waits) == 50 == policy["waiting"]
    assert all(w["reason"].startswith("waiting: ") and "daily cap" in w["reason"] for w in waits)


def test_the_default_mix_and_the_plans_own_selector(cli: CliEnv) -> None:
    three()
    result = cli.wide().invoke(["simulate", "--plan", "Marketing", "--messages", "300"])
    assert result.exit_code == 0, result.output
    assert "to 39 domain(s) from the default mix of 39 domains; policy round_robin" in result.output
    assert split(result.output) == {"relay-0": 100, "relay-1": 100, "relay-2": 100}
    assert "domains → servers (top 10 of 39)" in result.output


def test_the_mix_from_a_recipients_csv(cli: CliEnv, tmp_path: Path) -> None:
    three()
    people = tmp_path / "people.csv"
    people.write_text(
        "email,first_name\n"
        + "".join(f"u{i}@{'gmail.com' if i % 3 else 'Example.ORG'},U\n" for i in range(90))
    )
    data = simulate(cli, "--recipients", str(people), "--policy", "sticky_domain")
    assert data["messages"] == 90 and data["mix"] == "people.csv (90 recipients)"
    (policy,) = data["policies"]
    assert {d: sum(s.values()) for d, s in sticky_map(policy).items()} == {
        "gmail.com": 60,
        "example.org": 30,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--messages", "10", "--policy", "sticky"],
            "--policy: unknown policy 'sticky'; use one of round_robin, ",
        ),
        (
            ["--messages", "10", "--domains", "gmail.com"],
            "--domains: 'gmail.com' needs a weight: use DOMAIN=WEIGHT",
        ),
        (
            ["--messages", "10", "--domains", "gmail.com=lots"],
            "the weight of gmail.com must be a whole number from 1",
        ),
        (
            ["--messages", "10", "--domains", "gmail.com=0"],
            "the weight of gmail.com must be a whole number",
        ),
        (
            ["--messages", "10", "--domains", "not a domain=3"],
            "--domains: 'not a domain' is not a domain",
        ),
        (["--messages", "10", "--domains", "a.com=1,a.com=2"], "--domains: a.com is given twice"),
        (["--messages", "10", "--domains", "a.com=1,"], "--domains: an empty entry"),
        (
            ["--messages", "10", "--domains", "a.com=1", "--recipients", "x.csv"],
            "choose one of --domains and --recipients",
        ),
        (["--recipients", "missing.csv"], "--recipients missing.csv: cannot be read"),
        ([], "give --messages N (or --recipients FILE"),
    ],
    ids=[
        "unknown-policy",
        "no-weight",
        "bad-weight",
        "zero-weight",
        "bad-domain",
        "twice",
        "empty",
        "both",
        "no-file",
        "no-count",
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    cli: CliEnv, args: list[str], message: str
) -> None:
    three()
    before = dump(cli.db)
    result = cli.wide().invoke(["simulate", "--plan", "Marketing", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert dump(cli.db) == before


def test_sticky_provider_keeps_a_providers_domains_together(cli: CliEnv) -> None:
    pool([smtp_server(f"relay-{i}", 2525 + i, 100_000) for i in range(8)])
    mix = "gmail.com=10,googlemail.com=10,outlook.com=10,hotmail.com=10,live.com=10"
    data = simulate(cli, "--messages", "500", "--policy", "sticky_provider", "--domains", mix)
    (policy,) = data["policies"]
    home = {d: next(iter(s)) for d, s in sticky_map(policy).items()}
    assert home["gmail.com"] == home["googlemail.com"]
    assert home["outlook.com"] == home["hotmail.com"] == home["live.com"]
    # By domain alone they scatter: the group is what holds them together.
    by_domain = simulate(cli, "--messages", "500", "--policy", "sticky_domain", "--domains", mix)
    (policy,) = by_domain["policies"]
    assert len({next(iter(s)) for s in sticky_map(policy).values()}) > 2


def test_mail_held_back_by_a_provider_rate_waits_at_its_pace_on_one_line(cli: CliEnv) -> None:
    servers = [smtp_server(f"relay-{i}", 2525 + i, 100_000) for i in range(2)]
    with opened() as rt:
        apply(
            rt,
            {
                "servers": servers,
                "plans": [{"name": "Marketing", "servers": [s["name"] for s in servers]}],
                "provider_limits": [
                    {"server": s["name"], "group": "gmail", "rate_per_second": 5} for s in servers
                ],
            },
        )
    data = simulate(cli, "--messages", "1000", "--domains", "gmail.com=50,example.org=50")
    (policy,) = data["policies"]
    # Each server takes one gmail message now (one at a time, 1/rate apart); the rest wait.
    assert policy["waiting"] == 500 - 2
    (wait,) = policy["waits"]
    assert wait["reason"] == (
        "waiting: relay-0: gmail: rate 5/s reached; relay-1: gmail: rate 5/s reached"
    )
    assert wait["last"] > wait["until"]  # spread at the two servers' pace, not all at once
    shown = cli.invoke(["simulate", "--plan", "Marketing", "--messages", "1000", "--domains",
                        "gmail.com=50,example.org=50"])  # fmt: skip
    assert "498 from " in shown.output and "at its pace" in shown.output
