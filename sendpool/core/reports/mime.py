"""Reading a parsed mail that may be hostile: capped text, bounded walks, no exceptions.

Reports come from anyone who can send mail to the bounce domain. Every string
kept from one is cleaned (undecodable bytes replaced, whitespace collapsed) and
capped, and every walk over its parts is bounded in depth and count, so a
crafted mail costs at most a bounded amount of work and memory downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime

DIAGNOSTIC_MAX = 1000
TOKEN_MAX = 64
ID_MAX = 255
BODY_MAX = 64 * 1024  # of a text part read for bounce wording or an out-of-office subject
MAX_DEPTH = 4  # report parts sit at depth 1; a gateway may wrap the report once or twice
MAX_PARTS = 64

Fields = dict[str, str]


def clean(value: object, limit: int) -> str:
    """One line of text from a header value, at most ``limit`` characters.

    The parser keeps the raw bytes of a header as surrogate escapes; they are
    read back as UTF-8 (RFC 6532 allows it in headers), anything else replaced.
    """
    text = str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        # A surrogate that no byte escaped (text built elsewhere, not parsed).
        text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.split())[:limit]


def header(msg: Message, name: str, limit: int = ID_MAX) -> str | None:
    """The first ``name`` header, as its raw text cleaned (``raw_items``: the compat32
    ``get`` turns a header with 8-bit bytes into a Header of replacement characters)."""
    key = name.lower()
    value = next((v for k, v in msg.raw_items() if k.lower() == key), None)
    if value is None:
        return None
    return clean(value, limit) or None


def decoded_header(msg: Message, name: str, limit: int = ID_MAX) -> str:
    """An RFC 2047 header (a Subject) as words, for matching; "" when absent."""
    raw = header(msg, name, 4 * limit) or ""
    try:
        words = [
            w.decode(charset or "ascii", "replace") if isinstance(w, bytes) else w
            for w, charset in decode_header(raw)
        ]
    except (HeaderParseError, LookupError):
        # A broken encoded word or an unknown charset: match the text as it came.
        return raw[:limit]
    return clean("".join(words), limit)


def walk(msg: Message) -> Iterator[tuple[int, Message]]:
    """(depth, part) breadth first, the message itself at depth 0, bounded.

    Only multiparts are entered: a message/rfc822 inside is a returned or a
    forwarded message, whose own parts say nothing about this mail.
    """
    queue: list[tuple[int, Message]] = [(0, msg)]
    seen = 0
    while queue and seen < MAX_PARTS:
        depth, part = queue.pop(0)
        seen += 1
        yield depth, part
        payload = part.get_payload()
        multipart = part.get_content_maintype() == "multipart" and isinstance(payload, list)
        if depth < MAX_DEPTH and multipart:
            queue.extend((depth + 1, p) for p in payload if isinstance(p, Message))


def first_part(msg: Message, *types: str) -> Message | None:
    return next((p for _, p in walk(msg) if p.get_content_type() in types), None)


def field_blocks(part: Message) -> Iterator[Fields]:
    """The blocks of a message/delivery-status or message/feedback-report part (RFC 3464 §2.1).

    Names are lower case; the first of a repeated field wins. A part whose
    fields did not parse as headers (sent base64-encoded, say) is read as text.
    """
    payload = part.get_payload()
    if not isinstance(payload, list):
        yield from text_blocks(text_of(part, BODY_MAX))
        return
    for block in payload:
        if isinstance(block, Message):
            yield fields_of(list(block.raw_items()))
            # message/global-delivery-status (RFC 6533) is parsed as one message:
            # its first block as headers, the others as its body.
            yield from text_blocks(text_of(block, 16 * BODY_MAX))


def fields_of(items: list[tuple[str, object]]) -> Fields:
    """Header fields by lower-case name, values cleaned; the first of a repeated name wins."""
    fields: Fields = {}
    for name, value in items:
        fields.setdefault(clean(name, 64).lower(), clean(value, 4 * DIAGNOSTIC_MAX))
    return fields


def text_blocks(text: str) -> Iterator[Fields]:
    """Header-like blocks separated by blank lines, continuation lines unfolded."""
    items: list[tuple[str, object]] = []
    for line in text.splitlines():
        if not line.strip():
            if items:
                yield fields_of(items)
            items = []
        elif line[:1] in (" ", "\t") and items:
            items[-1] = (items[-1][0], f"{items[-1][1]} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            items.append((name.strip(), value.strip()))
    if items:
        yield fields_of(items)


def text_of(part: Message, limit: int = BODY_MAX) -> str:
    """A leaf part's content, transfer-decoded, as text, at most ``limit`` characters."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data[: 4 * limit].decode(charset, "replace")[:limit]
    except LookupError:
        # An unknown charset name: the bytes as UTF-8 is the best reading left.
        return data[: 4 * limit].decode("utf-8", "replace")[:limit]


def typed_value(value: str | None, limit: int = ID_MAX) -> str | None:
    """``rfc822; user@example.com`` -> ``user@example.com`` (RFC 3464 §2.1.2 address-type).

    The type is an atom (``rfc822``, ``dns``, ``smtp``, ``X-Postfix``): a value
    whose text before the first ";" has a space in it has no type to strip.
    """
    if not value:
        return None
    kind, sep, rest = value.partition(";")
    typed = sep and kind.strip() and " " not in kind.strip()
    text = (rest if typed else value).strip().strip("<>").strip()
    return text[:limit] or None


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as aware UTC; None if absent or unreadable (RFC 5322 -0000 is UTC)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def address_of(value: str | None) -> str | None:
    """The address inside ``Name <user@host>`` or a bare ``user@host``."""
    if not value:
        return None
    start, end = value.rfind("<"), value.rfind(">")
    text = value[start + 1 : end] if 0 <= start < end else value
    text = text.strip()
    return text[:ID_MAX] if "@" in text and " " not in text else None


def domain_of(value: str | None) -> str | None:
    address = address_of(value)
    return address.rpartition("@")[2].lower() or None if address else None
