"""``sendpool webhooks show``: the URL to paste, what the server lacks, and what arrived."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli_env import CliEnv

POOL = """\
[[servers]]
name = "pm"
type = "postmark"
server_token_env = "PM_TOKEN"
sending_limit = 10

[[servers]]
name = "mg"
type = "mailgun"
domain = "mg.example.com"
api_key_env = "MG_KEY"
sending_limit = 10

[[servers]]
name = "relay"
type = "smtp"
host = "127.0.0.1"
port = 2525
encryption = "none"
sending_limit = 10
"""


def _pool(tmp_path: Path, cli: CliEnv) -> None:
    cli.setenv("PM_TOKEN", "pm-token-secret-7f1e")
    cli.setenv("MG_KEY", "mg-key-secret-2b9a")
    pool = tmp_path / "pool.toml"
    pool.write_text(POOL)
    assert cli.invoke(["pool", "apply", str(pool)]).exit_code == 0


def test_the_url_is_shown_with_its_password_only_when_asked(tmp_path: Path, cli: CliEnv) -> None:
    _pool(tmp_path, cli)
    cli.wide()
    shown = cli.invoke(["webhooks", "show", "pm"])
    assert shown.exit_code == 0, shown.output
    assert "sendpool:…@" in shown.output and "/api/v1/webhooks/" in shown.output
    assert "--reveal" in shown.output and "nothing received yet" in shown.output
    revealed = json.loads(cli.invoke(["webhooks", "show", "pm", "--reveal", "--json"]).output)
    assert revealed["url"].startswith("http://sendpool:") and revealed["url"].endswith("/postmark")
    masked = json.loads(cli.invoke(["webhooks", "show", "pm", "--json"]).output)
    assert "…" in masked["url"] and revealed["url"] != masked["url"]
    for output in (shown.output, json.dumps(revealed)):
        assert "pm-token-secret-7f1e" not in output and "mg-key-secret-2b9a" not in output


def test_what_a_server_lacks_is_named(tmp_path: Path, cli: CliEnv) -> None:
    _pool(tmp_path, cli)
    info = json.loads(cli.invoke(["webhooks", "show", "mg", "--json"]).output)
    assert info["missing"] == ["webhook_signing_key: Mailgun's HTTP webhook signing key"]
    assert "/mailgun" in info["url"] and "sendpool:" not in info["url"]


def test_an_smtp_relay_or_an_unknown_server_is_refused_clearly(tmp_path: Path, cli: CliEnv) -> None:
    _pool(tmp_path, cli)
    relay = cli.invoke(["webhooks", "show", "relay"])
    assert relay.exit_code == 1 and "reports bounces by mail" in relay.output
    unknown = cli.invoke(["webhooks", "show", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output
