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
from dataclasses import dataclass
from email.header import Header
from typing import Protocol

from sendpool.core.return_path import TOKEN_HEADER

LINE_MAX = 998  # RFC 5322 §2.1.1, without the CRLF


@dataclass(frozen=True, slots=True)
class WireBody:
    """A part's body as it goes out: its transfer encoding, its CRLF bytes, and whether
    a line of it may start with "." (content/wire_body.py; False only when none can)."""

    cte: str
    data: bytes
    dot_lines: bool


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
    @property
    def text_wire(self) -> WireBody | None: ...
    @property
    def html_wire(self) -> WireBody | None: ...


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
    return len(body) <= LINE_MAX or max(map(len, body.split("\n"))) <= LINE_MAX


def normal_breaks(text: str) -> str:
    """Every line break as ``\\n``; most bodies have no CR, and are not copied then."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def seven_bit(body: str) -> bytes:
    """ASCII text with ``\\n`` breaks as 7bit bytes with CRLF."""
    return body.encode("ascii").replace(b"\n", b"\r\n")


def quoted_printable(body: str) -> bytes:
    """Text with ``\\n`` breaks as quoted-printable bytes with CRLF (binascii, in C)."""
    return binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _body(text: str) -> WireBody:
    """7bit when the text allows it (ASCII, lines within RFC 5322's 998), else quoted-printable.

    The whole text is looked at, with no plan: whether a line starts with "." is left unknown.
    """
    body = normal_breaks(text)
    if body.isascii() and "\x00" not in body and _lines_fit(body):
        return WireBody("7bit", seven_bit(body), True)
    return WireBody("quoted-printable", quoted_printable(body), True)


@functools.cache
def _part_head(content_type: str, cte: str) -> bytes:
    """A part's headers: a few shapes in all, so each is written once."""
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    ).encode("ascii")


def _part(content_type: str, text: str, wire: WireBody | None) -> tuple[bytes, bool]:
    body = wire or _body(text)
    return _part_head(content_type, body.cte) + body.data, body.dot_lines


def build_mime(msg: MimeFields) -> bytes:
    return build_wire(msg)[0]


def build_wire(msg: MimeFields) -> tuple[bytes, bool]:
    """The message's bytes, and whether a line of them may start with "." (RFC 5321 §4.5.2).

    Header lines start with their names, folded ones with white space, the part
    heads and boundaries with letters or "--": only a body, or a header whose
    name did, can start a line with a dot.
    """
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
    parts, dots = [], any(name.startswith(".") for name in msg.headers)
    for content_type, text, wire in (
        ("text/plain", msg.text, msg.text_wire),
        ("text/html", msg.html, msg.html_wire),
    ):
        if text is not None:
            part, part_dots = _part(content_type, text, wire)
            parts.append(part)
            dots = dots or part_dots
    if len(parts) == 1:
        return ("\r\n".join(head) + "\r\n").encode("utf-8") + parts[0], dots
    # "=_" cannot occur in quoted-printable text, and a 7bit part would have to
    # contain this message's own uid to collide with it.
    boundary = f"=_sp_{msg.uid}"
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    sep = f"\r\n--{boundary}\r\n".encode("ascii")
    body = sep + sep.join(parts or [_part("text/plain", "", None)[0]])
    return (
        ("\r\n".join(head) + "\r\n\r\nThis is a multi-part message in MIME format.\r\n").encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    ), dots
