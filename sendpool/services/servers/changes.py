"""A change to a sending server, checked whole: common keys, the type's settings, the mailboxes.

Checks run on the merged result (what the server would become), so a change
is refused whole or applied whole; one FieldError names every field at fault,
each as its face spells it ("port", "warmup.start_daily", "bounce_handler.host").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from sendpool.secretbox import SecretBox
from sendpool.services.errors import FieldError, pairs_of
from sendpool.services.servers.fields import (
    COLUMN_FIELDS,
    COMMON,
    COMMON_KEYS,
    HANDLERS,
    MAX_SECRET,
    NULLABLE,
    ServerFields,
)
from sendpool.services.servers.mailboxes import merge_handler
from sendpool.transports.registry import ServerSettingsError, server_type, validate_settings

T = TypeVar("T")
REQUIRED_ON_CREATE = tuple(d.name for d in COMMON if d.required)
# What a new server is given for a key left out (plans are attached apart).
CREATE_DEFAULTS = {
    d.name: d.default for d in COLUMN_FIELDS if not d.required and d.default not in (None, [])
}
_COLUMN_KEYS = frozenset(d.name for d in COLUMN_FIELDS)


def common_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The common keys in ``changes`` (the mailboxes aside), checked, as they are stored."""
    given = {k: v for k, v in changes.items() if k in _COLUMN_KEYS}
    bad_nulls = [
        (k, "must not be null") for k, v in given.items() if v is None and k not in NULLABLE
    ]
    if bad_nulls:
        raise FieldError(bad_nulls)
    try:
        fields = ServerFields.model_validate(given)
    except ValidationError as exc:
        raise FieldError(pairs_of(exc)) from None
    return fields.model_dump(include=set(given), mode="json")


def typed_fields(
    type_name: str,
    changes: Mapping[str, Any],
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the type's own keys from ``changes`` into ``settings`` and ``secrets``; check them."""
    try:
        st = server_type(type_name)
    except ServerSettingsError as exc:
        raise FieldError(exc.errors) from None
    new_settings, new_secrets = dict(settings), dict(secrets)
    errors: list[tuple[str, str]] = []
    known = [*st.settings_model.model_fields, *st.secret_fields]
    for key, value in changes.items():
        if key in COMMON_KEYS:
            continue
        if key not in known:
            errors.append((key, f"unknown field; {type_name} servers take {', '.join(known)}"))
        elif key in st.secret_fields:
            if value is None:
                new_secrets.pop(key, None)
            elif not isinstance(value, str) or not value or len(value) > MAX_SECRET:
                errors.append((key, f"must be a string of 1 to {MAX_SECRET} characters"))
            else:
                new_secrets[key] = value
        elif value is None:
            new_settings.pop(key, None)
        else:
            new_settings[key] = value
    if errors:
        raise FieldError(errors)
    return check_settings(type_name, new_settings), new_secrets


def check_settings(type_name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A type's settings as stored, checked the same way for every face (pool file included)."""
    st = server_type(type_name)
    try:
        # Strict first: "2525" is not a port, and `true` is not 1, whatever a lax reading
        # would make of them.
        st.settings_model.model_validate(dict(settings), strict=True)
    except ValidationError as exc:
        raise FieldError(pairs_of(exc)) from None
    try:
        return validate_settings(type_name, settings)
    except ServerSettingsError as exc:
        raise FieldError(exc.errors) from None


def handler_values(
    box: SecretBox, stored: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, dict[str, Any] | None]:
    """The mailboxes ``changes`` names, merged with what is stored; null removes one."""
    out: dict[str, dict[str, Any] | None] = {}
    errors: list[tuple[str, str]] = []
    for h in HANDLERS:
        if h not in changes:
            continue
        given = changes[h]
        if given is None:
            out[h] = None
        elif not isinstance(given, Mapping):
            errors.append((h, "must be an object of mailbox keys, or null"))
        else:
            try:
                out[h] = merge_handler(box, h, stored.get(h), given)
            except FieldError as exc:
                errors += exc.errors
    if errors:
        raise FieldError(errors)
    return out


@dataclass(slots=True)
class CheckedChange:
    """What a server becomes: its columns, its type's settings and secrets, its mailboxes."""

    common: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    handlers: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _collect(errors: list[tuple[str, str]], check: Callable[[], T]) -> T | None:
    try:
        return check()
    except FieldError as exc:
        errors.extend(exc.errors)
        return None


def check_change(
    box: SecretBox,
    changes: Mapping[str, Any],
    *,
    current_type: str | None,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    handlers: Mapping[str, Any],
) -> CheckedChange:
    """Every part checked; one FieldError with every mistake, or the change to write.

    ``current_type`` None means a new server: the required keys must be given.
    A new ``type`` starts its settings and secrets afresh.
    """
    errors: list[tuple[str, str]] = []
    if current_type is None:
        errors += [(k, "Field required") for k in REQUIRED_ON_CREATE if changes.get(k) is None]
    common = _collect(errors, lambda: common_fields(changes)) or {}
    type_name = changes.get("type") or current_type
    out = CheckedChange(common)
    type_refused = any(f == "type" for f, _ in errors)
    if isinstance(type_name, str) and not type_refused:
        fresh = type_name != current_type
        typed = _collect(
            errors,
            lambda: typed_fields(
                type_name, changes, {} if fresh else settings, {} if fresh else secrets
            ),
        )
        if typed is not None:
            out.settings, out.secrets = typed
    out.handlers = _collect(errors, lambda: handler_values(box, handlers, changes)) or {}
    if errors:
        raise FieldError(list(dict.fromkeys(errors)))
    return out
