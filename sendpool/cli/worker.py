"""``sendpool worker`` and ``sendpool migrate``."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from prometheus_client import start_http_server

from sendpool.cli.common import console, err_console, friendly_errors, open_runtime, setup_logging
from sendpool.pipeline.embedded import run_async
from sendpool.runtime import Runtime
from sendpool.store.db import migrate as migrate_schema


async def _serve_workers(rt: Runtime, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = [rt.worker() for _ in range(concurrency)]
    err_console.print(
        f"{concurrency} worker(s) running on {rt.settings.database_url.split('@')[-1]}; "
        "Ctrl-C stops them gracefully"
    )
    await asyncio.gather(*(w.run(stop) for w in workers))


@friendly_errors
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Workers in this process.")] = 1,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every health change.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve Prometheus metrics on this port."),
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
    setup_logging(verbose)
    rt = open_runtime()
    if metrics_port is not None:
        # Each worker process counts its own sends; Prometheus sums the processes.
        start_http_server(metrics_port, addr=metrics_addr)
    try:
        run_async(_serve_workers(rt, concurrency))
    finally:
        rt.close()


@friendly_errors
def migrate() -> None:
    """Create or upgrade the database schema (sendpool does this on start as well)."""
    rt = open_runtime()
    try:
        migrate_schema(rt.db.engine)
    finally:
        rt.close()
    console.print("schema is up to date")
