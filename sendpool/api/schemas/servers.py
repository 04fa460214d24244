"""Sending servers on the wire: one body per server type, secrets write-only.

Each type's connection settings sit beside the common keys, as in pool.toml.
The bodies are built from transports/registry.py, so the schema at /docs
lists exactly the fields each type takes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from sendpool.api.schemas.common import Name, OptionalName, Ref, RequestBody
from sendpool.transports.registry import ServerType, known_types, server_type

Limit = Field(ge=0, le=1_000_000_000)


class WarmupBody(RequestBody):
    start_daily: int = Field(ge=0, le=1_000_000_000)
    growth_percent: float = Field(ge=0, le=1000)
    target_daily: int = Field(ge=0, le=1_000_000_000)
    started_on: date = Field(strict=False, description="ISO date, e.g. 2026-11-20.")
    gate_bounce_rate: float | None = Field(None, ge=0, le=1)


class ServerCommon(RequestBody):
    name: str = Name
    status: Literal["active", "disabled"] = "active"
    sending_limit: int = Field(ge=0, le=1_000_000_000, description="Per day; 0 sends nothing.")
    hourly_limit: int | None = Field(None, ge=0, le=1_000_000_000)
    rate_per_second: float | None = Field(None, gt=0, le=1_000_000)
    max_connections: int = Field(4, ge=1, le=200)
    max_messages_per_connection: int | None = Field(None, ge=1, le=1_000_000)
    timezone: str = Field("UTC", max_length=64, description="IANA zone of the quota windows.")
    default_from_email: str | None = Field(None, max_length=320)
    warmup: WarmupBody | None = None
    plans: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Plan uids or names."
    )


class ServerPatch(RequestBody):
    """Any field of the server; a type's own settings and secrets go beside these keys.

    null clears an optional field (hourly_limit, warmup, a setting, a secret).
    A new `type` replaces the settings and secrets with those given here.
    """

    model_config = ConfigDict(extra="allow", strict=True)

    name: str | None = OptionalName
    type: str | None = Field(None, max_length=32)
    status: Literal["active", "disabled"] | None = None
    sending_limit: int | None = Field(None, ge=0, le=1_000_000_000)
    hourly_limit: int | None = Field(None, ge=0, le=1_000_000_000)
    rate_per_second: float | None = Field(None, gt=0, le=1_000_000)
    max_connections: int | None = Field(None, ge=1, le=200)
    max_messages_per_connection: int | None = Field(None, ge=1, le=1_000_000)
    timezone: str | None = Field(None, max_length=64)
    default_from_email: str | None = Field(None, max_length=320)
    warmup: WarmupBody | None = None
    plans: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=100
    )


class ServerOutCommon(BaseModel):
    uid: str
    name: str
    status: str
    health: str
    health_error: str | None
    health_checked_at: datetime | None
    sending_limit: int
    hourly_limit: int | None
    rate_per_second: float | None
    max_connections: int
    max_messages_per_connection: int | None
    timezone: str
    default_from_email: str | None
    warmup: dict[str, Any] | None
    plans: list[Ref]
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secrets_set: list[str] = Field(description="Names of the secrets stored; never their values.")


def _title(st: ServerType) -> str:
    return st.name.capitalize()


def _create_model(st: ServerType) -> type[BaseModel]:
    secret = Field(
        None, min_length=1, max_length=4096, description="Secret: stored encrypted, never returned."
    )
    fields: dict[str, Any] = {"type": (Literal[st.name], ...)}
    fields.update({f: (str | None, secret) for f in st.secret_fields})
    return create_model(
        f"{_title(st)}ServerCreate", __base__=(ServerCommon, st.settings_model), **fields
    )


def _out_model(st: ServerType) -> type[BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[st.name], ...)}
    for name, info in st.settings_model.model_fields.items():
        fields[name] = (Optional[info.annotation], None)  # noqa: UP045
    return create_model(f"{_title(st)}Server", __base__=ServerOutCommon, **fields)


TYPES = [server_type(name) for name in known_types()]
CREATE_MODELS = {st.name: _create_model(st) for st in TYPES}
OUT_MODELS = {st.name: _out_model(st) for st in TYPES}

if TYPE_CHECKING:
    ServerCreate = ServerCommon
    ServerOut = ServerOutCommon
else:
    ServerCreate = Annotated[Union[tuple(CREATE_MODELS.values())], Field(discriminator="type")]  # noqa: UP007
    ServerOut = Annotated[Union[tuple(OUT_MODELS.values())], Field(discriminator="type")]  # noqa: UP007


class WindowOut(BaseModel):
    hour_used: int
    hour_cap: int = Field(description="The hourly limit, or the day's cap when there is none.")
    hour_resets_at: datetime
    day_used: int
    day_cap: int = Field(description="min(sending_limit, warm-up cap) while warming.")
    day_resets_at: datetime
    warming: bool


class ServerStatsOut(WindowOut):
    uid: str
    name: str
    sending_limit: int
    sent_last_24h: int
    bounces_last_24h: int
    bounce_rate_last_24h: float = Field(description="Hard bounces / sent; 0.0 when nothing sent.")
    complaints_last_24h: int


class PoolServerOut(WindowOut):
    uid: str
    name: str
    type: str
    status: str
    health: str


class PoolOut(BaseModel):
    by_type: dict[str, int]
    by_health: dict[str, int]
    servers: list[PoolServerOut]


class CheckOut(BaseModel):
    ok: bool
    detail: str
    facts: dict[str, str]
    health: str


class TestEmailBody(RequestBody):
    to: str = Field(min_length=3, max_length=320)
    from_email: str | None = Field(None, max_length=320)


class TestEmailOut(BaseModel):
    accepted: bool
    outcome: str
    detail: str
    remote_id: str | None
