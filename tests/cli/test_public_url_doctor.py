"""SENDPOOL_PUBLIC_URL: `serve` defaults it to its own address; `doctor` warns when recipients can't reach it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.serve import bind, public_url_for, with_public_url
from sendpool.store.tables import SendingServer
from tests.support.cli_env import CliEnv
from tests.support.settings import make_settings


def write_pool(path: Path, hosts: list[str]) -> Path:
    servers = "".join(
        f'[[servers]]\nname = "relay-{i}"\ntype = "smtp"\nhost = "{h}"\nport = 25\n'
        'encryption = "none"\nsending_limit = 1000\n\n'
        for i, h in enumerate(hosts)
    )
    names = ", ".join(f'"relay-{i}"' for i in range(len(hosts)))
    path.write_text(servers + f'[[plans]]\nname = "Marketing"\nservers = [{names}]\n')
    return path


def public_row(output: str) -> tuple[str, str] | None:
    """The doctor table's "public url" row as (status, detail and advice), lines joined."""
    found: list[list[str]] = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) != 5:
            continue
        if cells[1]:
            found.append(cells[1:4] if cells[1] == "public url" else [])
        elif found and found[-1]:
            found[-1][2] = f"{found[-1][2]} {cells[3]}".strip()
    rows = [r for r in found if r]
    return (rows[0][1], rows[0][2]) if rows else None


def doctor(cli: CliEnv, tmp_path: Path, hosts: list[str]) -> tuple[str, str] | None:
    applied = cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml", hosts))])
    assert applied.exit_code == 0, applied.output
    result = cli.wide().invoke(["doctor"])
    assert "Traceback" not in result.output, result.output
    return public_row(result.output)


def test_a_loopback_url_with_a_server_off_this_machine_is_a_warning(
    cli: CliEnv, tmp_path: Path
) -> None:
    row = doctor(cli, tmp_path, ["127.0.0.1", "smtp.example.net"])
    assert row is not None
    status, text = row
    assert status == "warn"
    assert "recipients cannot reach http://127.0.0.1:8025/u/…" in text
    assert "relay-1" in text and "relay-0" not in text
    assert "SENDPOOL_PUBLIC_URL" in text


def test_a_private_url_warns_too_and_a_public_one_is_ok(cli: CliEnv, tmp_path: Path) -> None:
    cli.setenv("SENDPOOL_PUBLIC_URL", "http://10.1.2.3:8025/")
    row = doctor(cli, tmp_path, ["smtp.example.net"])
    assert row is not None and row[0] == "warn"
    assert "recipients cannot reach http://10.1.2.3:8025/u/…" in row[1]
    cli.setenv("SENDPOOL_PUBLIC_URL", "https://mail.example.com")
    row = public_row(cli.invoke(["doctor"]).output)
    assert row == ("ok", "unsubscribe links point at https://mail.example.com/u/…")


def test_nothing_to_say_while_every_enabled_server_is_on_this_machine(
    cli: CliEnv, tmp_path: Path
) -> None:
    assert doctor(cli, tmp_path, ["127.0.0.1", "localhost", "smtp.example.net"]) is not None
    with Runtime.open(Settings()) as rt:
        rt.db.transaction(
            lambda c: c.execute(
                update(SendingServer)
                .where(SendingServer.name == "relay-2")
                .values(status="disabled")
            )
        )
    assert public_row(cli.invoke(["doctor"]).output) is None


def test_serve_hands_out_its_own_address_unless_told_otherwise(tmp_path: Path) -> None:
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        with Runtime.open(make_settings(tmp_path)) as rt:
            assert with_public_url(rt, sock) == f"http://127.0.0.1:{port}"
            assert rt.settings.public_url == f"http://127.0.0.1:{port}"
            assert rt.worker().preparer.public_url == f"http://127.0.0.1:{port}"
        told = make_settings(tmp_path, public_url="https://mail.example.com/")
        with Runtime.open(told) as rt:
            assert with_public_url(rt, sock) == "https://mail.example.com"
    finally:
        sock.close()


def test_a_wildcard_bind_is_named_by_the_machine_and_ipv6_is_bracketed() -> None:
    assert public_url_for("0.0.0.0", 8025) == f"http://{socket.getfqdn()}:8025"
    assert public_url_for("::", 80) == f"http://{socket.getfqdn()}:80"
    assert public_url_for("::1", 9000) == "http://[::1]:9000"
    assert public_url_for("192.0.2.7", 8025) == "http://192.0.2.7:8025"


@pytest.mark.parametrize(
    "value",
    ["ftp://mail.example.com", "mail.example.com", "http://", "https://a.b/?x=1", "http://[::1"],
)
def test_a_public_url_that_is_not_one_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError, match="public_url: .* is not an http"):
        make_settings(tmp_path, public_url=value)
