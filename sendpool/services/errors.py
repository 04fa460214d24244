"""Errors the services raise beyond sendpool.errors: named fields, clashes, refused tokens.

They subclass the root classes, so every face that maps InputError or
SendpoolError already maps these; the API maps each to its own status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sendpool.errors import InputError, SendpoolError

T = TypeVar("T")


class FieldError(InputError):
    """Input refused whole; ``errors`` names each bad field with what is wrong with it."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors))


class ConflictError(InputError):
    """The request clashes with what exists: a name taken, a plan still in use."""


class AuthError(SendpoolError):
    """A bearer token that is missing, malformed, unknown or revoked."""


def check_name(field: str, name: object, max_length: int = 200) -> str:
    """A name people type and read: 1 to ``max_length`` printable characters, trimmed."""
    if not isinstance(name, str) or not name.strip():
        raise FieldError([(field, "must be a non-empty string")])
    if len(name) > max_length or any(c < " " or c == "\x7f" for c in name):
        raise FieldError([(field, f"must be at most {max_length} printable characters")])
    return name.strip()


def checked(field: str, check: Callable[[T], T], value: T) -> T:
    """``check(value)``, with an InputError turned into a FieldError naming ``field``."""
    try:
        return check(value)
    except FieldError:
        raise
    except InputError as exc:
        raise FieldError([(field, str(exc))]) from None
