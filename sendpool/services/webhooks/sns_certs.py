"""Amazon SNS signing certificates, fetched from SNS's own hosts only, and kept for a day.

A certificate is trusted for where it came from: an https URL already pinned to
``sns.<region>.amazonaws.com`` (``check_cert_url``), TLS verified against the
system's CAs, no redirect followed (a 3xx could lead anywhere), a small body.
A burst of notifications signed with one certificate fetches it once: one
lock per URL, and a bounded cache.

Refusals: 403 when what SNS's host answered is not a certificate (a redirect,
a 4xx, not PEM, too large); 503 when the host could not be reached or answered
5xx, so that SNS delivers the notification again later.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from sendpool.core.webhooks.events import WebhookRefused
from sendpool.core.webhooks.sns import check_cert_url, check_subscribe_url

MAX_CERTIFICATE = 65_536  # bytes; SNS's PEM is under 2 KiB
TIMEOUT = 5.0  # seconds for a whole request, and for each step of it
MAX_ENTRIES = 128
LIFETIME = timedelta(days=1)


class PinnedTransport(httpx.AsyncBaseTransport):
    """Connect each named host to a fixed address, TLS still checked against the name.

    For tests and for operators behind a fixed egress: ``connect_to`` maps a
    host name to the (address, port) to dial; a host not in it is unreachable.
    The TLS handshake names the original host (SNI), and the certificate must
    be valid for it.
    """

    def __init__(
        self, connect_to: Mapping[str, tuple[str, int]], ssl_context: ssl.SSLContext
    ) -> None:
        self._connect_to = dict(connect_to)
        self._inner = httpx.AsyncHTTPTransport(verify=ssl_context, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        target = self._connect_to.get(host)
        if target is None:
            raise httpx.ConnectError(f"{host} is not one of the pinned hosts", request=request)
        address, port = target
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address, port=port),
            headers=request.headers,  # Host: still the original name
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _same_url(url: str) -> None:
    """Refuse a URL that httpx would read differently from the check that passed it."""
    try:
        checked, parsed = urlsplit(url), httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise WebhookRefused(403, f"URL refused: {url[:200]!r} does not parse") from exc
    if (parsed.scheme, parsed.host, parsed.port or 443) != ("https", checked.hostname, 443):
        raise WebhookRefused(403, f"URL refused: {url[:200]!r} is ambiguous")


class SnsCertificates:
    """Fetch and cache SNS signing certificates; also GETs a confirmed SubscribeURL.

    ``connect_to`` and ``ssl_context`` decide where a host name connects and
    which CAs are trusted; by default, DNS and the system CAs. One instance is
    shared by every request; ``close()`` it when done.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_to: Mapping[str, tuple[str, int]] | None = None,
        timeout: float = TIMEOUT,
        max_entries: int = MAX_ENTRIES,
        lifetime: timedelta = LIFETIME,
    ) -> None:
        context = ssl_context or ssl.create_default_context()
        transport: httpx.AsyncBaseTransport = (
            PinnedTransport(connect_to, context)
            if connect_to is not None
            else httpx.AsyncHTTPTransport(verify=context, retries=0)
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=timeout,
            trust_env=False,  # no proxy or .netrc from the environment
            headers={"Accept-Encoding": "identity", "User-Agent": "sendpool"},
        )
        self._cache: OrderedDict[str, tuple[bytes, datetime]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.timeout = timeout
        self.max_entries = max_entries
        self.lifetime = lifetime
        self.fetches = 0  # requests made for certificates, for operators and tests

    async def certificate(self, url: str, *, now: datetime) -> bytes:
        """The PEM at ``url`` (a SigningCertURL), from the cache when fetched before ``lifetime``."""
        check_cert_url(url)
        cached = self._cached(url, now)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(url, asyncio.Lock())
        try:
            async with lock:
                cached = self._cached(url, now)
                if cached is not None:
                    return cached
                pem = await self._fetch(url)
                self._store(url, pem, now)
                return pem
        finally:
            if not lock.locked() and self._locks.get(url) is lock:
                del self._locks[url]

    async def confirm(self, url: str) -> None:
        """GET a SubscribeURL (pinned as certificate URLs are) to confirm a subscription."""
        check_subscribe_url(url)
        await self._get(url, "SubscribeURL")

    def _cached(self, url: str, now: datetime) -> bytes | None:
        entry = self._cache.get(url)
        if entry is None:
            return None
        pem, until = entry
        if now >= until:
            del self._cache[url]
            return None
        self._cache.move_to_end(url)
        return pem

    def _store(self, url: str, pem: bytes, now: datetime) -> None:
        self._cache[url] = (pem, now + self.lifetime)
        self._cache.move_to_end(url)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _fetch(self, url: str) -> bytes:
        self.fetches += 1
        body = await self._get(url, "SigningCertURL")
        try:
            x509.load_pem_x509_certificate(body)
        except ValueError as exc:
            raise WebhookRefused(403, "SigningCertURL: not an X.509 PEM certificate") from exc
        return body

    async def _get(self, url: str, what: str) -> bytes:
        """The body of a 200 answer, at most MAX_CERTIFICATE bytes, or WebhookRefused."""
        _same_url(url)
        try:
            async with self._client.stream("GET", url) as answer:
                status = answer.status_code
                if 300 <= status < 400:
                    raise WebhookRefused(403, f"{what}: a redirect (HTTP {status}) is not followed")
                if status >= 500:
                    raise WebhookRefused(503, f"{what}: SNS answered HTTP {status}; try later")
                if status != 200:
                    raise WebhookRefused(403, f"{what}: SNS answered HTTP {status}")
                body = bytearray()
                # httpx's timeout is per read; a deadline bounds a server that drips bytes.
                # (Checked between reads: cancelling httpcore mid-read would leak its socket.)
                clock = asyncio.get_running_loop()
                deadline = clock.time() + self.timeout
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if clock.time() > deadline:
                        raise WebhookRefused(
                            503, f"{what}: the answer took over {self.timeout:g} s; try later"
                        )
                    if len(body) > MAX_CERTIFICATE:
                        raise WebhookRefused(
                            403, f"{what}: the answer is larger than {MAX_CERTIFICATE} bytes"
                        )
                return bytes(body)
        except httpx.HTTPError as exc:
            raise WebhookRefused(
                503, f"{what}: could not be fetched ({type(exc).__name__}: {exc})"[:300]
            ) from exc

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SnsCertificates:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
