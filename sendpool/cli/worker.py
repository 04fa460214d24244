"""``sendpool worker`` and ``sendpool migrate``."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from sendpool.cli.common import (
    console,
    create_store,
    err_console,
    friendly_errors,
    open_runtime,
    setup_logging,
)

if TYPE_CHECKING:
    from sendpool.runtime import Runtime


async def _serve_workers(
    rt: Runtime, concurrency: int, metrics_sock: socket.socket | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = [rt.worker() for _ in range(concurrency)]
    tasks = [w.run(stop) for w in workers]
    if metrics_sock is not None:
        from sendpool.api.metrics import counters_app
        from sendpool.serve import serve_asgi

        # Each worker process counts its own sends; Prometheus sums the processes.
        tasks.append(serve_asgi(counters_app(rt.settings.metrics_token), metrics_sock, stop))
    err_console.print(
        f"{concurrency} worker(s) running on {rt.settings.database_url.split('@')[-1]}; "
        "Ctrl-C stops them gracefully"
    )
    await asyncio.gather(*tasks)


@friendly_errors
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Workers in this process.")] = 1,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every health change.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this process's Prometheus counters on this port "
            "(with SENDPOOL_METRICS_TOKEN set, scrapes need that bearer token).",
        ),
    ] = None,
    metrics_addr: Annotated[
        str, typer.Option(help="Address the metrics port listens on.")
    ] = "127.0.0.1",
) -> None:
    """Claim and send due messages until stopped (SIGINT/SIGTERM finish in-flight sends first).

    Run as many worker processes, on as many machines, as you like: they share
    the queue through the database, and the quota ledger and the rotation
    cursors through Redis when SENDPOOL_REDIS_URL is set (else the database).
    """
    from sendpool.pipeline.embedded import run_async

    setup_logging(verbose)
    rt = open_runtime()
    try:
        metrics_sock = None
        if metrics_port is not None:
            from sendpool.serve import bind, warn_if_open

            metrics_sock = bind(metrics_addr, metrics_port)
            warn_if_open(metrics_addr, rt.settings.metrics_token, "the worker's metrics")
        run_async(_serve_workers(rt, concurrency, metrics_sock))
    finally:
        rt.close()


@friendly_errors
def migrate() -> None:
    """Create or upgrade the database schema (sendpool does this on start as well)."""
    from sendpool.store.db import migrate as migrate_schema

    rt = create_store()
    try:
        migrate_schema(rt.db.engine)
    finally:
        rt.close()
    console.print("schema is up to date")
