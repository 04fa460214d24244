"""Text a server's settings may hold: one line, and hosts that are a host name or an IP literal.

Every text setting ends up in a protocol line (EHLO, AUTH, an HTTP header or
URL) or a file path. A CR LF stored there splits that line in two, so control
characters are refused wherever settings are written, not where they are used.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# RFC 1123 §2.1: letters, digits and hyphens, a label at most 63 long, not starting or
# ending with a hyphen. Underscores are allowed: internal relays are named that way.
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
MAX_HOST = 253


def one_line(value: str) -> str:
    """Refuse control characters (CR, LF, TAB, NUL, DEL, C1): they split protocol lines."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters (line breaks, tabs, NUL)"
        )
    return value


def _ip_literal(value: str) -> bool:
    # RFC 5321 §4.1.3 writes an address literal in brackets: [192.0.2.1], [IPv6:2001:db8::1].
    inner = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    inner = inner[5:] if inner[:5].lower() == "ipv6:" else inner
    try:
        ipaddress.ip_address(inner)
    except ValueError:
        return False
    return True


def host_name(value: str) -> str:
    """A host name (IDN allowed) or an IP literal: no spaces, scheme, port or path."""
    one_line(value)
    if _ip_literal(value):
        return value
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.removesuffix(".").split(".")
    if not ascii_name or len(ascii_name) > MAX_HOST or not all(map(_LABEL.match, labels)):
        raise PydanticCustomError(
            "host_name",
            "must be a host name (mail.example.com) or an IP address, "
            "without a scheme, port, path or spaces",
        )
    return value


OneLine = Annotated[str, AfterValidator(one_line)]
HostName = Annotated[str, AfterValidator(host_name)]
