"""Build RFC 5322 bytes from rendered fields without the ``email`` package's per-message cost.

The ``email`` package builds a tree of objects and a policy-driven generator for
every message, which caps a process near 1,300 messages a second. A campaign's
messages all share one shape, so we write that shape directly: headers, then a
multipart/alternative body whose parts are quoted-printable (binascii, in C).
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Mapping
from email.header import Header
from typing import Protocol

from sendpool.core.return_path import TOKEN_HEADER


class MimeFields(Protocol):
    """What a message must carry to be written as MIME (an OutgoingMessage does)."""

    @property
    def uid(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def from_header(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str | None: ...
    @property
    def html(self) -> str | None: ...
    @property
    def message_id(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def return_token(self) -> str | None: ...


class HeaderInjectionError(ValueError):
    """A header value carried a line break: it would have started a header of its own."""


def check_header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderInjectionError(f"{name} contains a line break; header injection refused")
    return value


def encode_header(name: str, value: str) -> str:
    """ASCII values pass through; others become RFC 2047 encoded words."""
    check_header_value(name, value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _lines_fit(body: str) -> bool:
    return len(body) <= 998 or max(map(len, body.split("\n"))) <= 998


def _body(text: str) -> tuple[str, bytes]:
    """7bit when the text allows it (ASCII, lines within RFC 5322's 998), else quoted-printable."""
    # Most bodies have no CR at all: the two copies of normalising are skipped then.
    body = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    if body.isascii() and "\x00" not in body and _lines_fit(body):
        return "7bit", body.encode("ascii").replace(b"\n", b"\r\n")
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


@functools.cache
def _part_head(content_type: str, cte: str) -> bytes:
    """A part's headers: a few shapes in all, so each is written once."""
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    ).encode("ascii")


def _part(content_type: str, text: str) -> bytes:
    cte, body = _body(text)
    return _part_head(content_type, cte) + body


def build_mime(msg: MimeFields) -> bytes:
    head = [
        f"From: {msg.from_header}",
        f"To: {check_header_value('To', msg.recipient)}",
        f"Subject: {encode_header('Subject', msg.subject)}",
        f"Date: {msg.date}",
        f"Message-ID: {check_header_value('Message-ID', msg.message_id)}",
        "MIME-Version: 1.0",
    ]
    for name, value in msg.headers.items():
        head.append(f"{name}: {encode_header(name, value)}")
    if msg.return_token is not None:
        # Found again in a report that returns the headers (RFC 3462 text/rfc822-headers).
        head.append(f"{TOKEN_HEADER}: {check_header_value(TOKEN_HEADER, msg.return_token)}")
    parts = []
    if msg.text is not None:
        parts.append(_part("text/plain", msg.text))
    if msg.html is not None:
        parts.append(_part("text/html", msg.html))
    if len(parts) == 1:
        return ("\r\n".join(head) + "\r\n").encode("utf-8") + parts[0]
    # "=_" cannot occur in quoted-printable text, and a 7bit part would have to
    # contain this message's own uid to collide with it.
    boundary = f"=_sp_{msg.uid}"
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    sep = f"\r\n--{boundary}\r\n".encode("ascii")
    body = sep + sep.join(parts or [_part("text/plain", "")])
    return (
        ("\r\n".join(head) + "\r\n\r\nThis is a multi-part message in MIME format.\r\n").encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )
