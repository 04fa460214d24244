"""Sending servers on the wire: one body per server type, secrets write-only.

Each type's connection settings sit beside the common keys, as in pool.toml.
The common keys come from the one definition (services/servers/fields.py),
each type's own from transports/registry.py, so the schema at /docs lists
exactly the fields each type takes, with the bounds every face enforces.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from sendpool.api.schemas.backoffs import BackoffOut
from sendpool.api.schemas.common import Ref, RequestBody
from sendpool.api.schemas.provider_limits import GroupLimitOut
from sendpool.services.servers.fields import (
    COMMON,
    HANDLERS,
    MAILBOX,
    MAX_SECRET,
    WARMUP,
    FieldDef,
    MailboxChange,
    Warmup,
    model_from,
)
from sendpool.transports.registry import ServerType, known_types, server_type

WarmupBody = Warmup
MailboxBody = MailboxChange
WarmupOut = model_from("WarmupOut", WARMUP, base=BaseModel, out=True)
MailboxOut = model_from(
    "MailboxOut",
    [*MAILBOX, FieldDef("password_set", bool, "", "Whether a password is stored; never it.")],
    base=BaseModel,
    out=True,
)

ServerCommon = model_from(
    "ServerCommon",
    [d for d in COMMON if d.name != "type"],  # each type's body names its own
    base=RequestBody,
    doc="The keys every server has; the type's own settings and secrets go beside them.",
)


class _PatchBase(RequestBody):
    model_config = ConfigDict(extra="allow", strict=True)


_ServerPatch = model_from(
    "ServerPatch",
    COMMON,
    base=_PatchBase,
    partial=True,
    doc="""Any field of the server; a type's own settings and secrets go beside these keys.

    null clears an optional field (hourly_limit, warmup, a mailbox, a setting, a secret).
    A new `type` replaces the settings and secrets with those given here.
    """,
)


class _OutBase(BaseModel):
    uid: str
    health: str
    health_error: str | None
    health_checked_at: datetime | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secrets_set: list[str] = Field(description="Names of the secrets stored; never their values.")
    status_reason: str | None = Field(
        None, description="Why the server is paused (status `paused`), with the figures."
    )
    vendor_daily_limit: int | None = Field(
        None,
        description="The sending limit the vendor reports (SES Max24HourSend), read by the "
        "server's check; rebalancing never raises sending_limit past it.",
    )


ServerOutCommon = model_from(
    "ServerOutCommon",
    [d for d in COMMON if d.name != "type"],
    base=_OutBase,
    out=True,
    types={"plans": list[Ref], "warmup": WarmupOut, **dict.fromkeys(HANDLERS, MailboxOut)},
)


def _title(st: ServerType) -> str:
    return st.name.capitalize()


def _create_model(st: ServerType) -> type[BaseModel]:
    secret = Field(
        None,
        min_length=1,
        max_length=MAX_SECRET,
        description="Secret: stored encrypted, never returned.",
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
    ServerCreate = BaseModel
    ServerPatch = BaseModel
    ServerOut = BaseModel
else:
    ServerPatch = _ServerPatch
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


class DomainStatsOut(BaseModel):
    """One sending domain's share of a server's last 24 hours."""

    domain: str = Field(description="The domain of the messages' From.")
    sent: int
    bounces: int
    bounce_rate: float
    complaints: int
    complaint_rate: float


class ServerStatsOut(WindowOut):
    uid: str
    name: str
    sending_limit: int
    sent_last_24h: int
    bounces_last_24h: int
    bounce_rate_last_24h: float = Field(
        description="Bounces (hard, and refusals about the server's reputation) / sent, "
        "counted by original send time; 0.0 when nothing sent."
    )
    complaints_last_24h: int
    complaint_rate_last_24h: float = Field(
        0.0, description="Complaints / sent, counted by original send time; 0.0 when nothing sent."
    )
    deferrals_last_24h: int = Field(
        0, description="Deferrals reported in the last 24 hours (DSN delayed, vendor deferred)."
    )
    by_sending_domain: list[DomainStatsOut] = Field(
        default_factory=list, description="The same figures per sending domain."
    )


class PoolServerOut(WindowOut):
    uid: str
    name: str
    type: str
    status: str
    health: str


class ShareOut(BaseModel):
    server: str
    observed_percent: float = Field(description="Of the plan's messages in the last 30 days.")
    predicted_percent: float = Field(description="What the caps and warm-ups predict.")


class CapHitOut(BaseModel):
    server: str
    at: datetime


class PlanStoryOut(BaseModel):
    """One plan: what its split means, and when it runs out of room."""

    plan: str
    pattern: str = Field(
        description="nothing_sent | single | round_robin | ramp_up | lower_cap | starved | uneven"
    )
    verdict: str = Field(description='In words, e.g. "healthy round-robin".')
    shares: list[ShareOut]
    forecast: str = Field(description="The capacity forecast in one sentence.")
    cap_hits: list[CapHitOut] = Field(description="When each server fills its day, in order.")
    waiting: int = Field(description="Messages that would then wait, until `waiting_until`.")
    waiting_until: datetime | None


class PoolOut(BaseModel):
    by_type: dict[str, int]
    by_health: dict[str, int]
    servers: list[PoolServerOut]
    plans: list[PlanStoryOut] = Field(default_factory=list)
    backoffs: list[BackoffOut] = Field(default_factory=list)  # adaptive back-offs engaged now
    # Per server x provider group limits (docs/design.md §1.9).
    provider_limits: list[GroupLimitOut] = Field(default_factory=list)


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
