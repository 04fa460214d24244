"""Server types: which fields each one has, which are secret, and how to build it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from sendpool.transports.base import Transport
from sendpool.transports.spec import ServerSpec


@dataclass(frozen=True, slots=True)
class ServerType:
    name: str
    settings_model: type[BaseModel]
    secret_fields: tuple[str, ...]
    build: Callable[[ServerSpec], Transport]
    label: str = ""
    # Whether the type takes non-ASCII local parts (RFC 6531), as its provider
    # documents it; None: each server says so itself, in its EHLO (SMTP).
    smtputf8: bool | None = None


class ServerSettingsError(ValueError):
    """Settings that do not fit the server type; ``errors`` holds (field, message) pairs."""

    def __init__(self, server_type: str, errors: list[tuple[str, str]]) -> None:
        said = "; ".join(f"{field}: {message}" for field, message in errors)
        super().__init__(f"invalid {server_type} server settings: {said}")
        self.errors = errors


_TYPES: dict[str, ServerType] = {}


def register(server_type: ServerType) -> None:
    _TYPES[server_type.name] = server_type


def _load_builtin() -> None:
    if _TYPES:
        return
    from sendpool.transports import builtin  # noqa: F401  (registers on import)


def known_types() -> list[str]:
    _load_builtin()
    return sorted(_TYPES)


def server_type(name: str) -> ServerType:
    _load_builtin()
    try:
        return _TYPES[name]
    except KeyError:
        said = f"unknown server type {name!r}; use one of {', '.join(known_types())}"
        raise ServerSettingsError(name, [("type", said)]) from None


def offers_smtputf8(type_name: str, learned: bool | None) -> bool | None:
    """What the dispatcher may assume: the type's declaration, else what the server said."""
    _load_builtin()
    known = _TYPES.get(type_name)
    declared = known.smtputf8 if known is not None else None
    return learned if declared is None else declared


def learns_smtputf8(type_name: str) -> bool:
    """True when only a connection to the server tells (its EHLO), not the type."""
    _load_builtin()
    known = _TYPES.get(type_name)
    return known is None or known.smtputf8 is None


def validate_settings(type_name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as the type's model reads them, or an error naming each bad field."""
    st = server_type(type_name)
    try:
        model = st.settings_model.model_validate(dict(settings))
    except ValidationError as exc:
        errors = [(".".join(str(p) for p in e["loc"]) or type_name, e["msg"]) for e in exc.errors()]
        raise ServerSettingsError(type_name, errors) from None
    return model.model_dump(mode="json", exclude_none=True)


def build_transport(spec: ServerSpec) -> Transport:
    return server_type(spec.type).build(spec)
