"""SNS signing certificates fetched from a real HTTPS server on loopback, pinned and cached."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import trustme

from sendpool.core.webhooks.events import WebhookRefused
from sendpool.services.webhooks.sns_certs import MAX_CERTIFICATE, SnsCertificates, _same_url
from tests.support.webhooks.sns import (
    CERT_PATH,
    CERT_URL,
    HOST,
    NOW,
    SNS_HOST,
    SUBSCRIBE_URL,
    SnsHttpsServer,
    SnsSigner,
    certificates_for,
)

pytest_plugins = ["tests.support.webhooks.sns_fixtures"]


async def _refused(certs: SnsCertificates, url: str) -> WebhookRefused:
    with pytest.raises(WebhookRefused) as caught:
        await certs.certificate(url, now=NOW)
    return caught.value


async def test_a_certificate_is_fetched_once_and_cached(
    sns: SnsHttpsServer, certs: SnsCertificates, signer: SnsSigner
) -> None:
    assert await certs.certificate(CERT_URL, now=NOW) == signer.cert_pem
    assert await certs.certificate(CERT_URL, now=NOW + timedelta(hours=23)) == signer.cert_pem
    assert sns.requests == [CERT_PATH]
    assert certs.fetches == 1


async def test_a_burst_fetches_once(sns: SnsHttpsServer, certs: SnsCertificates) -> None:
    pems = await asyncio.gather(*(certs.certificate(CERT_URL, now=NOW) for _ in range(20)))
    assert len(set(pems)) == 1
    assert sns.requests == [CERT_PATH]


async def test_the_cache_lives_a_day(sns: SnsHttpsServer, certs: SnsCertificates) -> None:
    await certs.certificate(CERT_URL, now=NOW)
    await certs.certificate(CERT_URL, now=NOW + timedelta(days=1))
    assert sns.requests == [CERT_PATH, CERT_PATH]


async def test_the_cache_is_bounded(sns: SnsHttpsServer, signer: SnsSigner) -> None:
    paths = [f"/SimpleNotificationService-{n}.pem" for n in range(3)]
    for path in paths:
        sns.serve(path, signer.cert_pem)
    async with certificates_for(sns, max_entries=2) as certs:
        for path in [*paths, paths[2], paths[0]]:
            await certs.certificate(f"https://{SNS_HOST}{path}", now=NOW)
    # The third pushed the first out; the last two asked again: one hit, one fetch.
    assert sns.requests == [*paths, paths[0]]


async def test_a_redirect_is_refused_and_not_followed(
    sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    sns.serve("/moved.pem", b"", status=302, headers={"Location": CERT_URL})
    refused = await _refused(certs, f"https://{SNS_HOST}/moved.pem")
    assert refused.status == 403 and "redirect" in refused.reason
    assert sns.requests == ["/moved.pem"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://{SNS_HOST}{CERT_PATH}", "only https"),
        (f"https://evil.example{CERT_PATH}", "host 'evil.example'"),
        (f"https://{HOST}{CERT_PATH}", "host '127.0.0.1'"),
        (f"https://{SNS_HOST}:8443{CERT_PATH}", "port 8443"),
        (f"https://{SNS_HOST}/index.html", "not a .pem file"),
    ],
)
async def test_urls_off_sns_are_refused_before_any_request(
    sns: SnsHttpsServer, certs: SnsCertificates, url: str, reason: str
) -> None:
    refused = await _refused(certs, url)
    assert refused.status == 403 and reason in refused.reason
    assert sns.requests == []


@pytest.mark.parametrize(
    ("body", "status", "code", "reason"),
    [
        (b"hello, not a certificate", 200, 403, "not an X.509 PEM"),
        (b"", 200, 403, "not an X.509 PEM"),
        (b"-" * (MAX_CERTIFICATE + 1), 200, 403, f"larger than {MAX_CERTIFICATE} bytes"),
        (b"gone", 404, 403, "SNS answered HTTP 404"),
        (b"busy", 503, 503, "SNS answered HTTP 503; try later"),
    ],
)
async def test_answers_that_are_not_a_certificate_are_refused(
    sns: SnsHttpsServer, certs: SnsCertificates, body: bytes, status: int, code: int, reason: str
) -> None:
    sns.serve("/bad.pem", body, status=status)
    refused = await _refused(certs, f"https://{SNS_HOST}/bad.pem")
    assert (refused.status, reason in refused.reason) == (code, True), refused.reason
    # Nothing was cached: the next request asks again.
    await _refused(certs, f"https://{SNS_HOST}/bad.pem")
    assert sns.requests == ["/bad.pem", "/bad.pem"]


async def test_a_large_pem_is_refused(sns: SnsHttpsServer, signer: SnsSigner) -> None:
    sns.serve("/big.pem", signer.cert_pem + b"\n" * MAX_CERTIFICATE)
    async with certificates_for(sns) as certs:
        refused = await _refused(certs, f"https://{SNS_HOST}/big.pem")
    assert refused.status == 403 and "larger than" in refused.reason


async def test_tls_is_verified_against_the_trusted_cas(sns: SnsHttpsServer) -> None:
    stranger = trustme.CA().cert_pem.bytes().decode()
    context = ssl.create_default_context(cadata=stranger)
    async with SnsCertificates(ssl_context=context, connect_to={SNS_HOST: (HOST, sns.port)}) as c:
        refused = await _refused(c, CERT_URL)
    assert refused.status == 503 and "could not be fetched" in refused.reason
    assert sns.requests == []  # the handshake failed: no request was sent


async def test_the_default_trusts_the_system_cas_not_a_test_ca(sns: SnsHttpsServer) -> None:
    async with SnsCertificates(connect_to={SNS_HOST: (HOST, sns.port)}) as certs:
        refused = await _refused(certs, CERT_URL)
    assert refused.status == 503 and "CERTIFICATE_VERIFY_FAILED" in refused.reason


async def test_the_certificate_must_name_the_host(signer: SnsSigner) -> None:
    # A server whose certificate is for another SNS region: TLS names the host asked for.
    with SnsHttpsServer(hosts=["sns.eu-west-1.amazonaws.com"]) as other:
        other.serve(CERT_PATH, signer.cert_pem)
        connect_to = {SNS_HOST: (HOST, other.port)}
        async with SnsCertificates(ssl_context=other.client_context(), connect_to=connect_to) as c:
            refused = await _refused(c, CERT_URL)
    assert refused.status == 503 and "could not be fetched" in refused.reason


async def test_a_host_not_pinned_is_not_reached(certs: SnsCertificates) -> None:
    refused = await _refused(certs, "https://sns.eu-west-1.amazonaws.com/x.pem")
    assert refused.status == 503 and "not one of the pinned hosts" in refused.reason


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_a_host_that_never_answers_times_out(silent_port: int) -> None:
    connect_to = {SNS_HOST: (HOST, silent_port)}
    async with SnsCertificates(connect_to=connect_to, timeout=0.2) as certs:
        refused = await _refused(certs, CERT_URL)
    assert refused.status == 503 and "Timeout" in refused.reason


async def test_confirm_gets_the_subscribe_url(sns: SnsHttpsServer, certs: SnsCertificates) -> None:
    await certs.confirm(SUBSCRIBE_URL)
    assert sns.confirmations == [SUBSCRIBE_URL.removeprefix(f"https://{SNS_HOST}")]


async def test_confirm_refuses_other_urls_and_redirects(
    sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    with pytest.raises(WebhookRefused, match="SubscribeURL refused: host 'evil.example'"):
        await certs.confirm("https://evil.example/?Action=ConfirmSubscription")
    sns.serve("/", b"", status=301, headers={"Location": "https://evil.example/"})
    with pytest.raises(WebhookRefused, match="redirect"):
        await certs.confirm(SUBSCRIBE_URL)
    assert len(sns.requests) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sns.us-east-1.amazonaws.com/x.pem", "is ambiguous"),
        ("https://sns.us-east-1.amazonaws.com:8443/x.pem", "is ambiguous"),
        ("https://[::1/x.pem", "does not parse"),
    ],
)
def test_a_url_httpx_reads_differently_is_refused(url: str, reason: str) -> None:
    # Behind check_cert_url, for a URL the two parsers might one day read apart.
    _same_url(f"https://{SNS_HOST}{CERT_PATH}")
    with pytest.raises(WebhookRefused, match=reason):
        _same_url(url)


@pytest.fixture
def dripping() -> Iterator[tuple[int, ssl.SSLContext]]:
    """An SNS host that answers 200, then one byte at a time, never finishing."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(SNS_HOST).configure_cert(server_context)
    listener = socket.create_server((HOST, 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n")
            while not stop.wait(0.02):
                try:
                    tls.sendall(b"-")
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield (
            listener.getsockname()[1],
            ssl.create_default_context(cadata=ca.cert_pem.bytes().decode()),
        )
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


async def test_a_host_that_drips_bytes_meets_the_deadline(
    dripping: tuple[int, ssl.SSLContext],
) -> None:
    port, context = dripping
    connect_to = {SNS_HOST: (HOST, port)}
    async with SnsCertificates(ssl_context=context, connect_to=connect_to, timeout=0.3) as certs:
        refused = await _refused(certs, CERT_URL)
    assert refused.status == 503 and "took over 0.3 s" in refused.reason
