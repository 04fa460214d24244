"""Address and header checks shared by every entry point, and the wire form of an address.

Addresses are kept as people wrote and read them: internationalised domains in
U-labels (``user@bücher.example``), in the list and in the message log. What
goes to a server is the wire form, derived once per message: the domain as
A-labels (IDNA 2008 with UTS #46 mapping, as email-validator applies it), so
that only a non-ASCII local part still needs SMTPUTF8 (RFC 6531).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.utils import formataddr

from email_validator import EmailNotValidError, validate_email

from sendpool.core.servers import AddressNeed, address_need
from sendpool.errors import InputError

# RFC 5322 §3.2.3 dot-atom: the plain local part nearly every list is made of.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=65536)
def _domain(domain: str) -> str | None:
    """The domain as email-validator normalises it, or None; lists repeat a few domains."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalise_address(address: str) -> str:
    """A deliverable-looking address in canonical form, or InputError saying why not.

    No DNS lookups: sendpool checks shape, the receiving server checks existence.
    """
    if not isinstance(address, str) or not address.strip():
        raise InputError("email address is empty")
    if any(c in address for c in "\r\n\x00"):
        raise InputError("email address contains a line break")
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if at and len(address) <= 254 and len(local) <= 64 and _DOT_ATOM.fullmatch(local):
        # The common case, checked the way email-validator would: the domain by the
        # library (once per domain), a plain dot-atom local part as it is.
        normal = _domain(domain)
        if normal is not None:
            return f"{local}@{normal}"
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(f"invalid email address {address[:80]!r}: {exc}") from None
    return result.normalized


@functools.lru_cache(maxsize=65536)
def _ascii_domain(domain: str) -> str:
    """The domain as A-labels; lists repeat a few domains, so each is converted once."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).ascii_domain
    except EmailNotValidError as exc:
        raise InputError(
            f"invalid domain {domain[:80]!r}: {exc}; correct the address and try again"
        ) from None


def wire_address(address: str) -> str:
    """The address as it goes to a server: its domain in A-labels, its local part as it is.

    ``user@bücher.example`` becomes ``user@xn--bcher-kva.example``, which any
    server takes; ``jörg@example.com`` keeps its local part (there is no ASCII
    form of it) and needs a server that offers SMTPUTF8.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address  # checked when it was normalised; nothing to convert
    return f"{local}@{_ascii_domain(domain)}"


@dataclass(frozen=True, slots=True)
class AddressForms:
    """One address as people see it, as it goes to a server, and what that asks of the server."""

    seen: str
    wire: str
    need: AddressNeed


def address_forms(address: str) -> AddressForms:
    """Normalise, then derive the wire form; InputError for anything not an address."""
    seen = normalise_address(address)
    wire = wire_address(seen)
    return AddressForms(seen, wire, address_need(wire))


def address_header(name: str, wire: str) -> str:
    """A From-style header value: ``Name <address>``, the name encoded if it needs it.

    An ASCII address goes as ``formataddr`` writes it. A non-ASCII local part
    has no encoded form: it is written as UTF-8, as RFC 6532 §3.2 allows in a
    message that travels with SMTPUTF8 (the only way such a message travels).
    """
    if wire.isascii():
        return formataddr((name, wire), "utf-8")
    if not name:
        return wire
    named = formataddr((name, "x@x"), "utf-8")
    return named.removesuffix("<x@x>") + f"<{wire}>"


def header_text(name: str, value: str, *, max_length: int = 998) -> str:
    """Text that goes into a header must be one line (RFC 5322 §2.2)."""
    if any(c in value for c in "\r\n\x00"):
        raise InputError(f"{name} contains a line break; header injection refused")
    if len(value) > max_length:
        raise InputError(f"{name} is longer than {max_length} characters")
    return value
