"""A return-path token per message: it names the message and carries a keyed MAC.

The token travels three ways (docs/design.md §6): in the envelope sender
``bounces+TOKEN@bounce.example.com``, as the DSN envelope id (RFC 3461 ``ENVID``),
and in the ``X-Sendpool-Message`` header. Any of them finds the message again.
It names the message only, never the recipient or the customer, and the MAC
(HMAC-SHA256, truncated to 80 bits) means a forged bounce cannot name a message
it was not sent: without the key, guessing a valid token takes about 2**80 tries.

The encoding is lowercase RFC 4648 base32 without padding: letters and digits
only, so it is safe in a local part (RFC 5321 §4.1.2), in xtext (RFC 3461 §4)
and in a header, and survives MTAs that fold the case of local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

TOKEN_HEADER = "X-Sendpool-Message"
MAC_BYTES = 10
ID_BYTES_MAX = 8  # message ids are 64-bit integers
TOKEN_CHARS_MAX = 64
_PURPOSE = b"sendpool-return-path:"
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _id_bytes(message_id: int) -> bytes:
    return message_id.to_bytes((message_id.bit_length() + 7) // 8, "big")


def _mac(id_bytes: bytes, key: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + id_bytes, hashlib.sha256).digest()[:MAC_BYTES]


def _encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def make_token(message_id: int, key: bytes) -> str:
    """The token for ``message_id`` under ``key`` (about 24 characters)."""
    if message_id < 1 or message_id.bit_length() > 8 * ID_BYTES_MAX:
        raise ValueError(f"a message id is a positive 64-bit integer, not {message_id}")
    id_bytes = _id_bytes(message_id)
    return _encode(id_bytes + _mac(id_bytes, key))


def read_token(token: str, key: bytes) -> int | None:
    """The message id a token names, or None for anything malformed, too long or forged."""
    text = token_form(token) if isinstance(token, str) else None
    if text is None:
        return None
    try:
        data = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:
        # binascii.Error: a length no base32 encoding has (1, 3 or 6 characters over).
        return None
    id_bytes, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    if len(data) <= MAC_BYTES or len(id_bytes) > ID_BYTES_MAX or id_bytes[:1] == b"\0":
        return None
    if _encode(data) != text:
        # Trailing bits that are not zero: another spelling of the same bytes.
        return None
    if not hmac.compare_digest(mac, _mac(id_bytes, key)):
        return None
    return int.from_bytes(id_bytes, "big")


def return_path_address(local: str, token: str, domain: str) -> str:
    """The envelope sender of a message: ``local+TOKEN@domain``."""
    return f"{local}+{token}@{domain}"


def token_of_address(address: str) -> str | None:
    """The ``+TOKEN`` of ``bounces+TOKEN@bounce.example.com`` (angle brackets tolerated).

    Only the form a token has is checked (base32 letters, at most 64); whether it
    is one of ours is ``read_token``'s to say.
    """
    if not isinstance(address, str) or len(address) > 1000:
        return None
    text = address.strip()
    start, end = text.rfind("<"), text.rfind(">")
    if 0 <= start < end:
        text = text[start + 1 : end].strip()
    local, at, _domain = text.rpartition("@")
    _base, plus, token = local.rpartition("+")
    return token_form(token) if at and plus else None


def token_form(text: str) -> str | None:
    """``text`` lower-cased if it has the form of a token (base32 letters, 1 to 64), else None."""
    token = text.strip().lower()
    if not token or len(token) > TOKEN_CHARS_MAX or not set(token) <= _ALPHABET:
        return None
    return token
