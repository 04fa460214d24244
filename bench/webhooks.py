"""Vendor webhook events accepted per second, each request's signature checked, per vendor.

    .venv/bin/python bench/webhooks.py                   # 4,000 messages sent, 3 rounds
    .venv/bin/python bench/webhooks.py --messages 4000 --requests 200 --rounds 5

A campaign of --messages goes out through the real transports to SES on moto
and to the Mailgun, Postmark and SendGrid fakes (a quarter each), into a
temporary SQLite database. sendpool's app then serves on a loopback port, and
one client in the same process and event loop posts signed webhook requests
over HTTP, --concurrency at a time: for each vendor, --requests requests
carrying one event each (SendGrid: batches of --batch events, as it sends
them), of two kinds: deliveries (verified, matched to their message, counted;
no figure moves) and hard bounces (verified, matched, applied: the event, the
suppression, the server's rates and its pause check, in one transaction; each
round on its own slice of the messages, so at most messages / rounds of them). SES's requests are SNS
notifications signed with an RSA key made here, the certificate fetched once
over HTTPS from a local server under the pinned SNS host name and cached.

The reference, measured in the same rounds, is GET /healthz over the same
client and connections: an HTTP round trip and one database read, the least
any request that touches the database costs on this machine. Each figure is the best of --rounds interleaved rounds; the
ratio is events per second over /healthz requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the vendor fakes and signed-request builders of the tests
    sys.path.insert(0, str(ROOT))

from moto.server import ThreadedMotoServer  # noqa: E402

from sendpool.config import Settings  # noqa: E402
from sendpool.core.webhooks.events import EventKind  # noqa: E402
from sendpool.http.app import create_app  # noqa: E402
from sendpool.runtime import Runtime  # noqa: E402
from sendpool.serve import serve_asgi  # noqa: E402
from sendpool.services.webhooks.receive import WebhookReceiver  # noqa: E402
from tests.support.fakes.fixtures import running  # noqa: E402
from tests.support.fakes.mailgun import MailgunFake  # noqa: E402
from tests.support.fakes.moto_ses import MotoSes  # noqa: E402
from tests.support.fakes.postmark import PostmarkFake  # noqa: E402
from tests.support.fakes.sendgrid import SendgridFake  # noqa: E402
from tests.support.webhook_world import Sent, VendorWorld, send_campaign, vendor_pool  # noqa: E402
from tests.support.webhooks.mailgun import mailgun_event, mailgun_request  # noqa: E402
from tests.support.webhooks.postmark import postmark_event, postmark_request  # noqa: E402
from tests.support.webhooks.sendgrid import sendgrid_event, sendgrid_request  # noqa: E402
from tests.support.webhooks.sns import (  # noqa: E402
    CERT_PATH,
    SnsHttpsServer,
    SnsSigner,
    certificates_for,
    notification,
    ses_event,
)

console = Console(width=120)
Request = tuple[str, bytes, dict[str, str]]  # path, body, headers
KINDS = {"delivered": EventKind.DELIVERED, "hard bounce": EventKind.HARD}


def _now() -> datetime:
    return datetime.now(UTC)


class Builder:
    """Signed requests in each vendor's shape, about the messages each vendor was handed."""

    def __init__(self, world: VendorWorld, signer: SnsSigner, batch: int) -> None:
        self.world = world
        self.signer = signer
        self.batch = batch

    def events_per_request(self, vendor: str) -> int:
        return self.batch if vendor == "sendgrid" else 1

    def request(self, vendor: str, kind: EventKind, about: list[Sent]) -> Request:
        w = self.world
        now = _now()
        path = w.path(vendor)
        if vendor == "sendgrid":
            batch = [
                sendgrid_event(
                    kind, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now
                )
                for m in about
            ]
            body, headers = sendgrid_request(batch, keys=w.sendgrid_keys, now=now)
            return path, body, headers
        (m,) = about
        if vendor == "mailgun":
            data = mailgun_event(
                kind, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now
            )
            body, headers = mailgun_request(data, signing_key=w.mailgun_key, now=now)
        elif vendor == "postmark":
            record = postmark_event(
                kind, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now
            )
            body, headers = postmark_request(
                record, username="sendpool", password=w.password("postmark")
            )
        else:
            ses_kind = "Bounce" if kind is EventKind.HARD else "Delivery"
            event = ses_event(
                ses_kind,
                message_uid=m.uid,
                message_id=m.remote_id,
                recipient=m.recipient,
                timestamp=now,
            )
            body = notification(self.signer, event, timestamp=now)
            headers = {"content-type": "text/plain; charset=UTF-8"}
        return path, body, headers


async def timed(
    http: httpx.AsyncClient,
    requests: list[Request],
    concurrency: int,
    check: Callable[[httpx.Response], None],
) -> float:
    queue = list(reversed(requests))

    async def client() -> None:
        while queue:
            path, body, headers = queue.pop()
            check(await http.post(path, content=body, headers=headers))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


async def healthz(http: httpx.AsyncClient, n: int, concurrency: int) -> float:
    left = [n]

    async def client() -> None:
        while left[0] > 0:
            left[0] -= 1
            answer = await http.get("/healthz")
            assert answer.status_code == 200, answer.text

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


def accepted(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text


def applied(answer: httpx.Response) -> None:
    """Every bounce of the round is applied: none was reported before."""
    accepted(answer)
    assert "duplicate" not in answer.json(), answer.text


async def bench(args: argparse.Namespace, folder: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{folder}/sendpool.db",
        secret_key=Fernet.generate_key().decode(),
        poll_interval=0.02,
    )
    rt = Runtime.open(settings)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    fakes = (MailgunFake(), PostmarkFake(), SendgridFake())
    signer = SnsSigner.create(
        not_before=_now().replace(year=2025), not_after=_now().replace(year=2030)
    )
    try:
        with running(fakes[0]), running(fakes[1]), running(fakes[2]), SnsHttpsServer() as sns:
            sns.serve(CERT_PATH, signer.cert_pem)
            key, keys = vendor_pool(
                rt, moto=MotoSes(moto), mailgun=fakes[0], postmark=fakes[1], sendgrid=fakes[2]
            )
            console.print(f"sending {args.messages:,} messages through the four vendors ...")
            world = await send_campaign(rt, args.messages, mailgun_key=key, keys=keys)
            await serve_and_measure(rt, world, signer, sns, args)
    finally:
        moto.stop()
        rt.close()


async def serve_and_measure(
    rt: Runtime,
    world: VendorWorld,
    signer: SnsSigner,
    sns: SnsHttpsServer,
    args: argparse.Namespace,
) -> None:
    app = create_app(rt)
    app.state.webhooks = WebhookReceiver(rt, certs=certificates_for(sns))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    stop = asyncio.Event()
    task = asyncio.create_task(serve_asgi(app, sock, stop))
    build = Builder(world, signer, args.batch)
    best: dict[tuple[str, str], tuple[float, int, int]] = {}  # seconds, requests, events
    reference = float("inf")
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            await healthz(http, args.concurrency, args.concurrency)  # connections opened
            for r in range(args.rounds):
                reference = min(reference, await healthz(http, args.requests, args.concurrency))
                for vendor in ("ses", "mailgun", "postmark", "sendgrid"):
                    per = build.events_per_request(vendor)
                    sent = world.sent[vendor]
                    for label, kind in KINDS.items():
                        if kind is EventKind.HARD:
                            # A slice no other round reports: every bounce is applied.
                            share = len(sent) // args.rounds
                            pool = sent[r * share : (r + 1) * share][: args.requests * per]
                        else:
                            pool = (sent * (args.requests * per // len(sent) + 1))[
                                : args.requests * per
                            ]
                        requests = [
                            build.request(vendor, kind, pool[i : i + per])
                            for i in range(0, len(pool), per)
                        ]
                        check = applied if kind is EventKind.HARD else accepted
                        took = await timed(http, requests, args.concurrency, check)
                        key = (vendor, label)
                        if took < best.get(key, (float("inf"), 0, 0))[0]:
                            best[key] = (took, len(requests), len(pool))
    finally:
        stop.set()
        await task
        await app.state.webhooks.close()
    report(best, reference, build, args)


def report(
    best: dict[tuple[str, str], tuple[float, int, int]],
    reference: float,
    build: Builder,
    args: argparse.Namespace,
) -> None:
    ref_rate = args.requests / reference
    table = Table(
        title=f"webhook events accepted per second (best of {args.rounds}; signatures checked)"
    )
    for col in ("vendor", "events", "per request", "events/s", "requests/s", "× /healthz req/s"):
        table.add_column(col, justify="right" if col not in ("vendor", "events") else "left")
    table.add_row("GET /healthz (reference)", "-", "-", "-", f"{ref_rate:,.0f}", "1.00")
    for (vendor, label), (took, requests, events) in best.items():
        rate = events / took
        table.add_row(
            vendor,
            label,
            str(build.events_per_request(vendor)),
            f"{rate:,.0f}",
            f"{requests / took:,.0f}",
            f"{rate / ref_rate:.2f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages", type=int, default=4000, help="sent first, a quarter per vendor"
    )
    parser.add_argument("--requests", type=int, default=100, help="per vendor, kind and round")
    parser.add_argument("--batch", type=int, default=50, help="events per SendGrid request")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(bench(args, Path(folder)))


if __name__ == "__main__":
    main()
