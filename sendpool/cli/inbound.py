"""``sendpool inbound``: take bounces and complaints by SMTP/LMTP and from the IMAP mailboxes."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from sendpool.cli.common import err_console, friendly_errors, open_runtime, setup_logging

if TYPE_CHECKING:
    from sendpool.runtime import Runtime


async def _run(rt: Runtime, *, listen: bool, poll: bool) -> None:
    from sendpool.services.inbound.runner import InboundRunner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce = functools.partial(err_console.print, highlight=False, markup=False)
    runner = InboundRunner.from_runtime(rt, listen=listen, poll=poll, announce=announce)
    try:
        await runner.run(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@friendly_errors
def inbound(
    bind: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT to listen on (default: SENDPOOL_INBOUND_BIND, 127.0.0.1:2526)."
        ),
    ] = None,
    lmtp: Annotated[
        bool | None,
        typer.Option(
            "--lmtp/--smtp", help="Speak LMTP or SMTP (default: SENDPOOL_INBOUND_LMTP, SMTP)."
        ),
    ] = None,
    no_listener: Annotated[
        bool, typer.Option("--no-listener", help="Only read the IMAP mailboxes.")
    ] = False,
    no_mailboxes: Annotated[
        bool, typer.Option("--no-mailboxes", help="Only listen; read no mailbox.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Take bounces (DSNs) and complaints (ARF) until SIGINT or SIGTERM.

    Listens by SMTP or LMTP for the bounce and FBL domains only
    (SENDPOOL_INBOUND_DOMAINS, SENDPOOL_BOUNCE_DOMAIN and each server's bounce
    domain; anything else gets 550, nothing is relayed), and reads every
    server's enabled IMAP bounce and FBL mailbox every
    SENDPOOL_INBOUND_POLL_SECONDS, moving processed reports to
    SENDPOOL_INBOUND_PROCESSED_FOLDER and leaving other mail unseen.

    Behind Postfix, hand it the bounce domain's mail over LMTP:

    \b
      main.cf:        transport_maps = texthash:/etc/postfix/transport
                      relay_domains = bounce.example.com
      transport:      bounce.example.com  lmtp:inet:127.0.0.1:2526
      sendpool:       SENDPOOL_INBOUND_LMTP=true SENDPOOL_BOUNCE_DOMAIN=bounce.example.com

    (or `smtp:[127.0.0.1]:2526` with --smtp). docs/deploy.md, "Bounces and
    complaints", has the whole recipe, and how to be the domain's MX instead.
    """
    from sendpool.pipeline.embedded import run_async

    setup_logging(verbose)
    logging.getLogger("sendpool.inbound").setLevel(logging.INFO)  # one line per report
    overrides: dict[str, object] = {}
    if bind is not None:
        overrides["inbound_bind"] = bind
    if lmtp is not None:
        overrides["inbound_lmtp"] = lmtp
    rt = open_runtime(**overrides)
    try:
        run_async(_run(rt, listen=not no_listener, poll=not no_mailboxes))
    finally:
        rt.close()
