"""Run the API on uvicorn, with the workers and the scheduler beside it in one event loop.

One set of signal handlers stops all three: uvicorn stops taking requests
and finishes the ones it has, the workers finish their in-flight sends and
write them back, the scheduler ends its tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from sendpool.errors import ConfigError
from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own; ``serve_api`` owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """Bind first, so a busy port is a clear error before anything starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve_api(
    rt: Runtime,
    sock: socket.socket,
    *,
    workers: bool,
    announce: Callable[[str], None] = print,
) -> None:
    config = uvicorn.Config(create_app(rt), log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    stop = asyncio.Event()

    def on_signal() -> None:
        server.force_exit = server.should_exit  # a second signal stops waiting for clients
        server.should_exit = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    # The scheduler runs in every serve, with or without workers: its jobs record
    # their slot in the database, so several serve processes still run each once.
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]), name="api"),
        asyncio.create_task(Scheduler(rt.db, rt.settings).run(stop), name="scheduler"),
    ]
    if workers:
        tasks.append(asyncio.create_task(rt.worker().run(stop), name="worker"))
    host, port = sock.getsockname()[:2]
    announce(
        f"sendpool serving on http://{host}:{port} (docs at /docs; workers "
        f"{'on' if workers else 'off'}); Ctrl-C or SIGTERM stops gracefully"
    )
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        on_signal()  # whatever ended first (a signal or a crash), the rest stop with it
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    for result in results:
        if isinstance(result, BaseException):
            raise result
