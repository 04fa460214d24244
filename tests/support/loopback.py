"""Loopback helpers for SMTP tests: the address, test certificates, a port that refuses."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import trustme

HOST = "127.0.0.1"


@dataclass(frozen=True)
class TlsKit:
    """Certificates from trustme: a CA the client trusts, and a rogue one it does not."""

    ca: trustme.CA
    cert: trustme.LeafCert
    rogue_cert: trustme.LeafCert

    @classmethod
    def create(cls) -> TlsKit:
        ca, rogue = trustme.CA(), trustme.CA()
        return cls(ca, ca.issue_cert(HOST, "localhost"), rogue.issue_cert(HOST, "localhost"))

    def server_context(self, *, trusted: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (self.cert if trusted else self.rogue_cert).configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port with nothing listening: bound (so no one else takes it) but never listen()ed."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]
