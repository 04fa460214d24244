"""Address and header checks shared by every entry point."""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email

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


def header_text(name: str, value: str, *, max_length: int = 998) -> str:
    """Text that goes into a header must be one line (RFC 5322 §2.2)."""
    if any(c in value for c in "\r\n\x00"):
        raise InputError(f"{name} contains a line break; header injection refused")
    if len(value) > max_length:
        raise InputError(f"{name} is longer than {max_length} characters")
    return value
