"""Errors the services raise beyond sendpool.errors: named fields, clashes, refused tokens.

They subclass the root classes, so every face that maps InputError or
SendpoolError already maps these; the API maps each to its own status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import ValidationError

from sendpool.errors import InputError, SendpoolError

A = TypeVar("A")
R = TypeVar("R")


class FieldError(InputError):
    """Input refused whole; ``errors`` names each bad field with what is wrong with it."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors))


def pairs_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """A pydantic refusal as (dotted field, message) pairs, each field under ``prefix``."""
    out = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"])
        out.append((".".join(p for p in (prefix, field) if p) or "body", e["msg"]))
    return out


class ConflictError(InputError):
    """The request clashes with what exists: a name taken, a plan still in use.

    ``field`` names the input at fault when there is one (the name that is taken),
    so a form can show the clash next to it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def as_field_error(self) -> FieldError | ConflictError:
        """The clash as a refused field, for faces that show errors by input."""
        return FieldError([(self.field, self.message)]) if self.field else self


class AuthError(SendpoolError):
    """A bearer token that is missing, malformed, unknown or revoked."""


def check_name(field: str, name: object, max_length: int = 200) -> str:
    """A name people type and read: 1 to ``max_length`` printable characters, trimmed."""
    if not isinstance(name, str) or not name.strip():
        raise FieldError([(field, "must be a non-empty string")])
    if len(name) > max_length or any(c < " " or c == "\x7f" for c in name):
        raise FieldError([(field, f"must be at most {max_length} printable characters")])
    return name.strip()


def checked(field: str, check: Callable[[A], R], value: A) -> R:
    """``check(value)``, with an InputError turned into a FieldError naming ``field``."""
    try:
        return check(value)
    except FieldError:
        raise
    except InputError as exc:
        raise FieldError([(field, str(exc))]) from None
