"""Postfix's smtp-sink and smtp-source, and a bare aiosmtplib loop: the pipeline's references.

smtp-source runs with ``-d`` (one connection per session, reused for every
message, as the pipeline reuses its own) at its best session count, so it is
the ceiling of this machine and not half of it. The bare loop is the least a
Python sender on asyncio and aiosmtplib does per message: the same bytes on
the same number of connections, with nothing read from or written to a database.
The transport loop is sendpool's own SMTP transport (its pipelined wire) the
same way: what is left of the worker's time beside it is the worker's own.

    python bench/sinks.py bare PORT COUNT CONNECTIONS MIME_FILE        # prints msg/s
    python bench/sinks.py transport PORT COUNT CONNECTIONS MIME_FILE   # sendpool's transport alone
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# smtp-source session counts tried each round; the best of them is the reference.
SOURCE_SESSIONS = (1, 2, 4, 8, 16)
SENDER_CORE = 0  # every sender (smtp-source, the bare loop, the worker) runs here
SINK_CORE = 1  # and smtp-sink on the other core, when there is one


def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not os.path.exists(path):
        raise SystemExit(f"{name} is missing: run `make bench` (bench/run.sh installs it)")
    return path


def pin(core: int) -> None:
    """Keep this process on one core, so each sender is measured on the same single core."""
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[int]:
    """smtp-sink on a free loopback port and a core of its own; it accepts and discards all."""
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [tool("smtp-sink"), *user, "-c", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: pin(SINK_CORE),
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def smtp_source_rate(port: int, count: int, size: int, sessions: int) -> float:
    """Messages per second smtp-source pushes to the sink over ``sessions`` reused connections."""
    started = time.perf_counter()
    subprocess.run(
        [
            tool("smtp-source"),
            "-d",
            "-s",
            str(sessions),
            "-m",
            str(count),
            "-l",
            str(size),
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: pin(SENDER_CORE),
    )
    return count / (time.perf_counter() - started)


def best_smtp_source(port: int, count: int, size: int) -> tuple[float, int]:
    """The best rate over SOURCE_SESSIONS, and the session count that gave it."""
    rates = {s: smtp_source_rate(port, count, size, s) for s in SOURCE_SESSIONS}
    best = max(rates, key=lambda s: rates[s])
    return rates[best], best


def bare_loop_rate(port: int, count: int, connections: int, mime: bytes) -> float:
    """The bare loop in a process of its own on the senders' core; returns msg/s."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as eml:
        eml.write(mime)
        eml.flush()
        cmd = [sys.executable, __file__, "bare", str(port), str(count), str(connections), eml.name]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


async def _bare(port: int, count: int, connections: int, mime: bytes) -> float:
    import aiosmtplib

    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local")
        for _ in range(connections)
    ]
    for c in clients:
        await c.connect()
    share = [count // connections + (i < count % connections) for i in range(connections)]

    async def run(client: aiosmtplib.SMTP, n: int) -> None:
        for i in range(n):
            await client.sendmail("news@example.com", [f"reader{i}@example.com"], mime)

    started = time.perf_counter()
    await asyncio.gather(*(run(c, n) for c, n in zip(clients, share, strict=True)))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.quit()
    return count / elapsed


def transport_loop_rate(port: int, count: int, connections: int, mime: bytes) -> float:
    """sendpool's own SMTP transport with nothing around it, in a process of its own; msg/s."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as eml:
        eml.write(mime)
        eml.flush()
        cmd = [sys.executable, __file__, "transport", str(port), str(count), str(connections)]
        out = subprocess.run([*cmd, eml.name], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


async def _transport(port: int, count: int, connections: int, mime: bytes) -> float:
    """SmtpTransport.send on ready bytes over ``connections``, spread on 4 per server."""
    from sendpool.transports.message import OutgoingMessage
    from sendpool.transports.smtp import SmtpTransport
    from sendpool.transports.spec import ServerSpec

    settings = {"host": "127.0.0.1", "port": port, "encryption": "none", "helo_name": "b.local"}
    servers = max(1, connections // 4)
    transports = [
        SmtpTransport(ServerSpec(i, str(i), f"sink-{i}", "smtp", settings, max_connections=4))
        for i in range(servers)
    ]
    messages = iter(
        OutgoingMessage(
            "0" * 32, "news@example.com", f"reader{i}@example.com", "x", "s", None, None,
            "<m@example.com>", "d", _mime=mime,
        )
        for i in range(count)
    )  # fmt: skip

    async def lane(transport: SmtpTransport) -> None:
        for message in messages:
            await transport.send(message)

    started = time.perf_counter()
    await asyncio.gather(*(lane(transports[i % servers]) for i in range(connections)))
    elapsed = time.perf_counter() - started
    for t in transports:
        await t.close()
    return count / elapsed


def _loop_main(which: str, argv: list[str]) -> None:
    port, count, connections, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    pin(SENDER_CORE)
    mime = Path(path).read_bytes()
    run = _bare if which == "bare" else _transport
    try:
        import uvloop

        rate = uvloop.run(run(port, count, connections, mime))
    except ImportError:
        rate = asyncio.run(run(port, count, connections, mime))
    print(rate)


if __name__ == "__main__":
    if sys.argv[1:2] not in (["bare"], ["transport"]) or len(sys.argv) != 6:
        raise SystemExit(__doc__)
    _loop_main(sys.argv[1], sys.argv[2:])
