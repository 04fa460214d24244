"""What a sending server may be given: the common keys checked here, the rest by its type.

Checks run on the merged result (what the server would become), so a change
is refused whole or applied whole; errors name each field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sendpool.content.addresses import normalise_address
from sendpool.services.errors import FieldError
from sendpool.services.pool.file import WarmupIn, check_timezone
from sendpool.transports.registry import ServerSettingsError, server_type, validate_settings

MAX_SECRET = 4096


class ServerFields(BaseModel):
    """The keys every server has, whatever its type; anything else belongs to the type."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    type: str | None = None
    status: Literal["active", "disabled"] | None = None
    sending_limit: int | None = Field(None, ge=0, le=1_000_000_000)
    hourly_limit: int | None = Field(None, ge=0, le=1_000_000_000)
    rate_per_second: float | None = Field(None, gt=0, le=1_000_000)
    max_connections: int | None = Field(None, ge=1, le=200)
    max_messages_per_connection: int | None = Field(None, ge=1, le=1_000_000)
    timezone: str | None = None
    default_from_email: str | None = None
    warmup: WarmupIn | None = None
    plans: list[str] | None = Field(None, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return v if v is None else check_timezone(v)

    @field_validator("default_from_email")
    @classmethod
    def _from(cls, v: str | None) -> str | None:
        return normalise_address(v) if v else None


COMMON_KEYS = frozenset(ServerFields.model_fields)
# Keys that may be set back to null (no cap, no warm-up, no default sender).
NULLABLE = frozenset(
    {
        "hourly_limit",
        "rate_per_second",
        "max_messages_per_connection",
        "default_from_email",
        "warmup",
    }
)


def errors_of(exc: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]


def _pair(error: str) -> tuple[str, str]:
    field, _, message = error.partition(": ")
    return field, message


def common_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in changes.items() if k in COMMON_KEYS}
    bad_nulls = [
        (k, "must not be null") for k, v in given.items() if v is None and k not in NULLABLE
    ]
    if bad_nulls:
        raise FieldError(bad_nulls)
    try:
        fields = ServerFields.model_validate(given)
    except ValidationError as exc:
        raise FieldError(errors_of(exc)) from None
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
        raise FieldError([("type", "; ".join(exc.errors).removeprefix("type: "))]) from None
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
    try:
        # Strict first: "2525" is not a port, whatever a lax reading would make of it.
        st.settings_model.model_validate(new_settings, strict=True)
    except ValidationError as exc:
        raise FieldError(errors_of(exc)) from None
    try:
        checked = validate_settings(type_name, new_settings)
    except ServerSettingsError as exc:
        raise FieldError([_pair(e) for e in exc.errors]) from None
    return checked, new_secrets
