"""Fixtures for tests of the SNS path: a signer, SNS's HTTPS host serving its certificate, and
the certificate fetcher that reaches it. Use with ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sendpool.services.webhooks.sns_certs import SnsCertificates
from tests.support.webhooks.sns import CERT_PATH, SnsHttpsServer, SnsSigner, certificates_for


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.create()


@pytest.fixture
def sns(signer: SnsSigner) -> Iterator[SnsHttpsServer]:
    with SnsHttpsServer() as server:
        server.serve(CERT_PATH, signer.cert_pem)
        yield server


@pytest.fixture
async def certs(sns: SnsHttpsServer) -> AsyncIterator[SnsCertificates]:
    async with certificates_for(sns) as fetcher:
        yield fetcher
