"""Run the API on uvicorn, with the workers and the scheduler beside it in one event loop.

One set of signal handlers stops them all: uvicorn stops taking requests
and finishes the ones it has, the workers finish their in-flight sends and
write them back, the scheduler ends its tick. With SENDPOOL_METRICS_BIND,
a second uvicorn serves /metrics on that address and stops with the rest.
Unless SENDPOOL_PUBLIC_URL says otherwise, recipients' unsubscribe links
point at the address this process listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from sendpool.errors import ConfigError
from sendpool.pipeline.collector import calm_gc
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler
from sendpool.services.operations.metrics_access import is_loopback, split_bind

log = logging.getLogger("sendpool.serve")


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


def public_url_for(host: str, port: int) -> str:
    """``http://HOST:PORT`` of a bound address; a wildcard bind is named by this machine's name."""
    address = ipaddress.ip_address(host)
    if address.is_unspecified:  # 0.0.0.0 or ::, which no recipient can open
        name = socket.getfqdn()
    else:
        name = f"[{host}]" if address.version == 6 else host
    return f"http://{name}:{port}"


def with_public_url(rt: Runtime, sock: socket.socket) -> str:
    """The public URL this serve hands out: SENDPOOL_PUBLIC_URL when set, else its own address."""
    if "public_url" not in rt.settings.model_fields_set:
        url = public_url_for(*sock.getsockname()[:2])
        rt.settings = rt.settings.model_copy(update={"public_url": url})
    return rt.settings.public_url


def warn_if_open(host: str, token: str | None, what: str) -> None:
    if not token and not is_loopback(host):
        log.warning(
            "%s is served on %s without a token: anyone who can reach it reads it; "
            "set SENDPOOL_METRICS_TOKEN",
            what,
            host,
        )


def create_metrics_app(rt: Runtime) -> FastAPI:
    """/metrics alone, for the listener on SENDPOOL_METRICS_BIND."""
    from sendpool.api.routes.ops import metrics_router

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = rt
    app.include_router(metrics_router)
    return app


def _server(app: Any) -> _Server:
    return _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))


async def serve_asgi(app: Any, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set (``sendpool worker --metrics-port``)."""
    server = _server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        waiter.cancel()
        await task


async def serve_api(
    rt: Runtime,
    sock: socket.socket,
    *,
    workers: bool,
    announce: Callable[[str], None] = print,
    metrics_sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; /metrics on ``metrics_sock`` (else SENDPOOL_METRICS_BIND)."""
    # Imported here: the web stack is heavy, and `sendpool worker` needs only serve_asgi.
    from sendpool.http.app import create_app

    public_url = with_public_url(rt, sock)  # before the app and the workers read it
    settings = rt.settings
    if metrics_sock is None and settings.metrics_bind:
        metrics_sock = bind(*split_bind(settings.metrics_bind))
    servers = [_server(create_app(rt))]
    # What start-up made lives as long as the process: out of every later full pass of
    # the collector, which over a loaded web stack held a request up for 100-200 ms.
    calm_gc()
    if metrics_sock is not None:
        servers.append(_server(create_metrics_app(rt)))
    stop = asyncio.Event()

    def on_signal() -> None:
        for server in servers:
            server.force_exit = server.should_exit  # a second signal stops waiting for clients
            server.should_exit = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    inbound = None
    if settings.inbound_enabled:  # bounces and complaints: the listener and the mailboxes
        from sendpool.services.inbound.runner import InboundRunner

        inbound = InboundRunner.from_runtime(rt, announce=announce)
        await inbound.start()  # binds first: a busy inbound port is an error before serving
    # The scheduler runs in every serve, with or without workers: its jobs record
    # their slot in the database, so several serve processes still run each once.
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[sock]), name="api"),
        asyncio.create_task(Scheduler(rt.db, settings).run(stop), name="scheduler"),
    ]
    if metrics_sock is not None:
        tasks.append(asyncio.create_task(servers[1].serve(sockets=[metrics_sock]), name="metrics"))
    if workers:
        tasks.append(asyncio.create_task(rt.worker().run(stop), name="worker"))
    if inbound is not None:
        tasks.append(asyncio.create_task(inbound.run(stop, started=True), name="inbound"))
    host, port = sock.getsockname()[:2]
    metrics_at = f"http://{host}:{port}/metrics"
    if metrics_sock is not None:
        m_host, m_port = metrics_sock.getsockname()[:2]
        metrics_at = f"http://{m_host}:{m_port}/metrics"
        warn_if_open(m_host, settings.metrics_token, "/metrics")
    else:
        warn_if_open(host, settings.metrics_token, "/metrics")
    announce(
        f"sendpool serving on http://{host}:{port} (docs at /docs; metrics at {metrics_at}; "
        f"workers {'on' if workers else 'off'}; unsubscribe links at {public_url}/u/…); "
        "Ctrl-C or SIGTERM stops gracefully"
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
