"""Address and header checks shared by every entry point."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from sendpool.errors import InputError


def normalise_address(address: str) -> str:
    """A deliverable-looking address in canonical form, or InputError saying why not.

    No DNS lookups: sendpool checks shape, the receiving server checks existence.
    """
    if not isinstance(address, str) or not address.strip():
        raise InputError("email address is empty")
    if any(c in address for c in "\r\n\x00"):
        raise InputError("email address contains a line break")
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(f"invalid email address {address.strip()[:80]!r}: {exc}") from None
    return result.normalized


def header_text(name: str, value: str, *, max_length: int = 998) -> str:
    """Text that goes into a header must be one line (RFC 5322 §2.2)."""
    if any(c in value for c in "\r\n\x00"):
        raise InputError(f"{name} contains a line break; header injection refused")
    if len(value) > max_length:
        raise InputError(f"{name} is longer than {max_length} characters")
    return value
