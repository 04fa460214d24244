"""An unsubscribe token: it names a subscriber and a list, and carries a keyed MAC.

It travels in the ``List-Unsubscribe`` URL (``/u/TOKEN``, RFC 8058) and in the
``mailto:`` address (``unsubscribe+TOKEN@bounce.example.com``). Whoever holds it
may unsubscribe that one subscriber from that one list, with no sign-in: a
mailbox provider's one-click POST carries no cookies. The MAC (HMAC-SHA256,
truncated to 80 bits, under a key of its own purpose) means nobody can name
another subscriber by editing the ids. The ids are opaque numbers: the token
reveals neither the address nor the list name.

The encoding is the return-path token's (lowercase base32, no padding), so it is
safe in a URL path, in a local part and through MTAs that fold case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sendpool.core.return_path import token_form

MAC_BYTES = 10
ID_BYTES_MAX = 8  # subscriber and list ids are 64-bit integers
_PURPOSE = b"sendpool-unsubscribe:"


def _id_bytes(value: int) -> bytes:
    if value < 1 or value.bit_length() > 8 * ID_BYTES_MAX:
        raise ValueError(f"an id is a positive 64-bit integer, not {value}")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(raw)]) + raw


def _mac(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + body, hashlib.sha256).digest()[:MAC_BYTES]


def _encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def make_unsubscribe_token(subscriber_id: int, list_id: int, key: bytes) -> str:
    """The token for ``subscriber_id`` on ``list_id`` under ``key`` (24 to 45 characters)."""
    body = _id_bytes(subscriber_id) + _id_bytes(list_id)
    return _encode(body + _mac(body, key))


def _read_id(data: bytes, at: int) -> tuple[int, int] | None:
    """The id whose length prefix is at ``data[at]`` and where the next field starts."""
    size = data[at] if at < len(data) else 0
    raw = data[at + 1 : at + 1 + size]
    if not 1 <= size <= ID_BYTES_MAX or len(raw) != size or raw[0] == 0:
        return None
    return int.from_bytes(raw, "big"), at + 1 + size


def read_unsubscribe_token(token: str, key: bytes) -> tuple[int, int] | None:
    """``(subscriber_id, list_id)`` a token names, or None for anything malformed or forged."""
    text = token_form(token) if isinstance(token, str) else None
    if text is None:
        return None
    try:
        data = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:
        # binascii.Error: a length no base32 encoding has (1, 3 or 6 characters over).
        return None
    if _encode(data) != text:
        # Trailing bits that are not zero: another spelling of the same bytes.
        return None
    subscriber = _read_id(data, 0)
    listed = _read_id(data, subscriber[1]) if subscriber else None
    if subscriber is None or listed is None or len(data) - listed[1] != MAC_BYTES:
        return None
    body, mac = data[: listed[1]], data[listed[1] :]
    if not hmac.compare_digest(mac, _mac(body, key)):
        return None
    return subscriber[0], listed[0]
