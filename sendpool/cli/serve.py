"""``sendpool serve``: the JSON API and the daily scheduler, with the workers unless told not."""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from sendpool.cli.common import create_runtime, err_console, friendly_errors, setup_logging


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8025,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve the API only; send with `sendpool worker`.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Serve the JSON API (OpenAPI at /docs, /metrics, /healthz).

    /metrics needs no credentials unless SENDPOOL_METRICS_TOKEN is set (then
    scrapes send `Authorization: Bearer <token>`); SENDPOOL_METRICS_BIND=HOST:PORT
    serves it on that address instead, and the API port answers 404 for it.
    /healthz stays open. The daily rebalancing job runs in this process (once a day at
    SENDPOOL_REBALANCE_AT, UTC, or at start if that slot was missed; one run
    per slot however many serve processes there are;
    SENDPOOL_REBALANCE_ENABLED=false turns it off). Unless --no-workers is
    given, the workers and their health checker run here too. SIGINT or
    SIGTERM finishes in-flight sends and requests, then exits. Unsubscribe
    links in the mail sent point at http://HOST:PORT of this serve unless
    SENDPOOL_PUBLIC_URL names the address recipients reach (a proxy's, say).
    """
    # Imported here, as every command imports what it runs (docs/design.md, §2): the web
    # stack is heavy, and every other command starts faster without it.
    from sendpool.pipeline.embedded import run_async
    from sendpool.serve import bind, serve_api

    setup_logging(verbose)
    rt = create_runtime()
    try:
        sock = bind(host, port)
        announce = functools.partial(err_console.print, highlight=False)
        run_async(serve_api(rt, sock, workers=not no_workers, announce=announce))
    finally:
        rt.close()
