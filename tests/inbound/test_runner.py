"""The inbound runner, ``sendpool inbound`` and ``serve`` with the inbound side enabled."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest
from cryptography.fernet import Fernet

from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.services.inbound.runner import InboundRunner, accepted_domains
from sendpool.services.servers import commands as server_commands
from tests.inbound.recorder import Recorder
from tests.inbound.samples import dsn
from tests.support.cli_env import CliEnv
from tests.support.live_process import SENDPOOL, free_port
from tests.support.settings import make_settings


def add_server(rt: Runtime, name: str, bounce_domain: str | None) -> None:
    fields = {"name": name, "type": "smtp", "host": "127.0.0.1", "port": 9,
              "encryption": "none", "sending_limit": 100, "bounce_domain": bounce_domain}  # fmt: skip
    now = datetime.now(UTC)
    rt.db.transaction(
        lambda c: server_commands.create_server(c, rt.box, fields=fields, actor="t", now=now)
    )


def test_accepted_domains_join_the_settings_and_every_servers_own(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, inbound_domains="fbl.example.com", bounce_domain="Bounce.Example.com"
    )
    with Runtime.open(settings) as rt:
        add_server(rt, "relay-a", "b.relay-a.example.net")
        add_server(rt, "relay-b", None)
        add_server(rt, "relay-c", "bounce.example.com")  # the same as the global one
        found = rt.db.transaction(accepted_domains, settings)
    assert found == ["b.relay-a.example.net", "bounce.example.com", "fbl.example.com"]


async def smtp_to(port: int, rcpt: str) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        await client.sendmail("", [rcpt], dsn())


async def test_the_runner_listens_and_learns_new_bounce_domains(
    tmp_path: Path, recorder: Recorder
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        inbound_bind=f"127.0.0.1:{port}",
        inbound_domains=["bounce.example.com"],
        inbound_poll_seconds=0.05,
    )
    with Runtime.open(settings) as rt:
        runner = InboundRunner(rt, recorder)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            for _ in range(500):  # until it listens
                if runner.listener.listening:
                    break
                await asyncio.sleep(0.01)
            await smtp_to(port, "bounces@bounce.example.com")
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
                await smtp_to(port, "bounces@b.relay-new.example.net")
            await asyncio.to_thread(add_server, rt, "relay-new", "b.relay-new.example.net")
            for _ in range(500):  # within a poll interval, without a restart
                if "b.relay-new.example.net" in runner.listener.domains:
                    break
                await asyncio.sleep(0.01)
            await smtp_to(port, "bounces@b.relay-new.example.net")
        finally:
            stop.set()
            await task
        assert len(recorder.calls) == 2
        with pytest.raises(OSError):  # stopped: the port is closed
            await smtp_to(port, "bounces@bounce.example.com")


async def test_a_busy_port_is_a_clear_error(tmp_path: Path, recorder: Recorder) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path, inbound_bind=f"127.0.0.1:{port}")
        with Runtime.open(settings) as rt:
            with pytest.raises(ConfigError, match="SENDPOOL_INBOUND_BIND"):
                await InboundRunner(rt, recorder).run(asyncio.Event())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("inbound_bind", "2526"),
        ("inbound_bind", "127.0.0.1:70000"),
        ("inbound_domains", "bounce.example.com,not a domain"),
        ("inbound_processed_folder", "Junk*"),
        ("inbound_max_bytes", "10"),
    ],
)
def test_bad_inbound_settings_are_refused_with_their_name(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ValueError, match=name):
        make_settings(tmp_path, **{name: value})


def test_the_help_says_how_to_point_postfix_at_it(cli: CliEnv) -> None:
    result = cli.wide().invoke(["inbound", "--help"])
    assert result.exit_code == 0
    for words in ("transport_maps", "lmtp:inet:127.0.0.1:2526", "SENDPOOL_INBOUND_LMTP"):
        assert words in result.output


def greets(port: int, process: subprocess.Popen[bytes], log: Path) -> bytes:
    deadline = time.monotonic() + 120  # a hang guard for a slow machine, not a speed check
    while True:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                return sock.recv(512)
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inbound", "serve"])
def test_the_process_takes_mail_and_stops_on_sigterm(tmp_path: Path, command: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SENDPOOL_DATABASE_URL": f"sqlite:///{tmp_path}/live.db",
        "SENDPOOL_SECRET_KEY": Fernet.generate_key().decode(),
        "SENDPOOL_INBOUND_BIND": f"127.0.0.1:{port}",
        "SENDPOOL_INBOUND_ENABLED": "true",
        "SENDPOOL_INBOUND_LMTP": "true",
        "SENDPOOL_BOUNCE_DOMAIN": "bounce.example.com",
        "SENDPOOL_REBALANCE_ENABLED": "false",
    }
    args = [SENDPOOL, "inbound"] if command == "inbound" else [
        SENDPOOL, "serve", "--port", str(free_port()), "--no-workers"
    ]  # fmt: skip
    log = tmp_path / "process.log"
    # `serve` creates its database; `inbound` reads one made by `sendpool migrate`.
    subprocess.run([SENDPOOL, "migrate"], env=env, check=True, capture_output=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert greets(port, process, log).startswith(b"220")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            wire = sock.makefile("rwb")
            wire.readline()
            wire.write(b"LHLO client.example\r\nMAIL FROM:<>\r\n")
            wire.write(b"RCPT TO:<x@elsewhere.example>\r\nQUIT\r\n")
            wire.flush()
            replies = [wire.readline() for _ in range(20)]
        assert any(r.startswith(b"550 5.7.1") for r in replies), replies
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, log.read_text()
    assert f"LMTP on 127.0.0.1:{port} for bounce.example.com" in log.read_text()
