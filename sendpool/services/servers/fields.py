"""The one definition of a sending server's writable fields, its warm-up and its mailboxes.

Each field is declared once here, with its bounds, its default, whether null
is a value for it, and its description. The pool file's server model, the
API's create, patch and out bodies and the admin form's common inputs are all
derived from these declarations, so one bad value is refused the same way,
naming the same field, whichever face it came through. A server type's own
connection settings are declared by the type (transports/registry.py).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)

from sendpool.config import mail_domain
from sendpool.content.addresses import normalise_address
from sendpool.services.servers.warmup_checks import CAP_KEYS, cap_keys_together, warmup_error
from sendpool.transports.text_checks import HostName, OneLine

REQUIRED: Any = ...  # no default: the key must be given when a server is made
MAX_COUNT = 1_000_000_000
MAX_SECRET = 4096
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
# pool.toml's spelling of the status: `enabled = true|false` is `status = "active"|"disabled"`.
STATUS_ALIAS = "enabled"


def check_timezone(name: str) -> str:
    """Quota windows are calendar hours and days in this zone, so it must be one tzdata knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'"
        ) from None
    return name


def _sender(address: str) -> str | None:
    # An empty sender is no sender: forms send "" for a blank input.
    return normalise_address(address) if address else None


def status_of(enabled: bool) -> str:
    return "active" if enabled else "disabled"


def enabled_status(enabled: bool, current: str | None) -> str:
    """The status an "enabled" checkbox or pool-file key asks of a server now ``current``.

    Enabled is not a resume: a server sendpool paused for its bounces or
    complaints stays paused until an operator sets it active explicitly.
    """
    if enabled and current == "paused":
        return "paused"
    return status_of(enabled)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One writable field: its type (bounds included), default, nullability and words."""

    name: str
    type: Any
    label: str
    description: str
    default: Any = REQUIRED
    nullable: bool = False  # null is a value (no cap, no warm-up); else null is refused

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# Names are trimmed where people type them: "relay-a " is "relay-a", never a look-alike
# second server. Uniqueness without regard to case is the services' (refs.name_clash).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN),
]
# A name that refers to another row (a plan's servers, a customer's plan): trimmed too.
NameRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Secret = Annotated[str, Field(min_length=1, max_length=MAX_SECRET)]

# A daily cap that grows (start_daily, growth_percent, target_daily), a share of the
# plan's sends that grows (percent_per_day, start_percent), or both: both are honoured.
WARMUP: tuple[FieldDef, ...] = (
    FieldDef(
        "start_daily",
        Count,
        "Start",
        "Messages on the first day.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "growth_percent",
        Annotated[float, Field(ge=0, le=1000)],
        "Growth",
        "Percent per day.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "target_daily", Count, "Target", "Warm once this is reached.", default=None, nullable=True
    ),
    # JSON and form text carry dates as ISO strings, so this one field reads them.
    FieldDef(
        "started_on",
        Annotated[date, Field(strict=False)],
        "Started on",
        "ISO date, e.g. 2026-11-20.",
    ),
    FieldDef(
        "gate_bounce_rate",
        Annotated[float, Field(ge=0, le=1)],
        "Bounce gate",
        "No growth on a day whose bounce rate is above this, e.g. 0.02.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "percent_per_day",
        Annotated[int, Field(ge=0, le=100)],
        "Share growth",
        "Warm up by share of the plan's sends: points a day, up to the weight's share.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "start_percent",
        Annotated[int, Field(ge=1, le=100)],
        "Start share",
        "Percent of the plan's sends on the first day (10 if left out).",
        default=None,
        nullable=True,
    ),
)


def full_warmup(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored warm-up with every key, those written before a key existed as null."""
    if not data:
        return None
    return {d.name: data.get(d.name) for d in WARMUP}


class _WarmupBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="wrap")
    @classmethod
    def _cap_keys_together(cls, data: Any, handler: Any) -> Any:
        return cap_keys_together(data, handler)

    @model_validator(mode="after")
    def _start_within_target(self) -> _WarmupBase:
        # A start above the target is never "warming" (core/warmup.py): the server would
        # send its full limit from day one, which is what warm-up is there to prevent.
        start, target = getattr(self, "start_daily", None), getattr(self, "target_daily", None)
        if isinstance(start, int) and isinstance(target, int) and start > target:
            raise warmup_error("start_daily", "warmup_order", "must not exceed target_daily", start)
        cap = [getattr(self, k, None) is not None for k in CAP_KEYS]
        share = getattr(self, "percent_per_day", None) is not None
        if getattr(self, "start_percent", None) is not None and not share:
            said = "a warm-up by share needs percent_per_day"
            raise warmup_error("percent_per_day", "missing", said, None)
        if not any(cap) and not share:
            said = "give a daily cap (start_daily, growth_percent, target_daily), a share, or both"
            raise warmup_error("percent_per_day", "missing", said, None)
        return self


MAILBOX: tuple[FieldDef, ...] = (
    FieldDef("enabled", bool, "Enabled", "Read this mailbox.", default=False),
    FieldDef("protocol", Literal["imap", "pop3"], "Protocol", "How it is read.", default="imap"),
    FieldDef(
        "host",
        Annotated[HostName, Field(min_length=1, max_length=253)],
        "Host",
        "The mailbox server.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "port", Annotated[int, Field(ge=1, le=65535)], "Port", "", default=None, nullable=True
    ),
    FieldDef(
        "encryption",
        Literal["none", "starttls", "tls"],
        "Encryption",
        "",
        default="tls",
    ),
    FieldDef(
        "username",
        Annotated[OneLine, Field(min_length=1, max_length=320)],
        "User",
        "",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "mailbox", Annotated[OneLine, Field(min_length=1, max_length=200)], "Mailbox", "", "INBOX"
    ),
)
MAILBOX_SECRET = "password"  # write-only: sealed in the stored JSON, never shown

_STRICT = ConfigDict(extra="forbid", strict=True)


def bare(annotation: Any) -> Any:
    """The type without its bounds: what a stored value is read back as."""
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def model_from(
    name: str,
    defs: Sequence[FieldDef],
    *,
    base: type[BaseModel] | None = None,
    config: ConfigDict | None = None,
    partial: bool = False,
    out: bool = False,
    types: Mapping[str, Any] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """A pydantic model of ``defs``.

    ``partial``: every key optional, absent means unchanged (a patch).
    ``out``: what is read back, bounds dropped. ``types`` replaces a field's type.
    """
    fields: dict[str, Any] = {}
    for d in defs:
        kind = (types or {}).get(d.name, bare(d.type) if out else d.type)
        if partial or d.nullable:
            kind = kind | None
        default = None if partial else d.default
        if out:
            default = REQUIRED
        fields[d.name] = (kind, Field(default, description=d.description or None))
    model: type[BaseModel] = create_model(
        name, __base__=base, __config__=None if base else (config or _STRICT), __doc__=doc, **fields
    )
    return model


Warmup = model_from(
    "Warmup",
    WARMUP,
    base=_WarmupBase,
    doc="A daily cap that grows by itself until target_daily is reached.",
)
MailboxHandler = model_from(
    "MailboxHandler",
    MAILBOX,
    doc="An IMAP or POP3 mailbox sendpool reads bounces or complaints from.",
)
MailboxChange = model_from(
    "MailboxChange",
    [*MAILBOX, FieldDef(MAILBOX_SECRET, Secret, "Password", "Write-only: stored encrypted.")],
    partial=True,
    doc="Mailbox keys to change; absent keys keep their value, a null password clears it.",
)
HANDLERS = ("bounce_handler", "fbl_handler")

COMMON: tuple[FieldDef, ...] = (
    FieldDef("name", Name, "Name", "Unique in the pool."),
    FieldDef(
        "type",
        Annotated[str, Field(min_length=1, max_length=32)],
        "Type",
        "smtp | ses | mailgun | postmark | sendgrid; decides the other keys.",
    ),
    FieldDef(
        "default_from_email",
        Annotated[str, Field(max_length=320), AfterValidator(_sender)],
        "Default from",
        "Sender of test emails.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "bounce_domain",
        Annotated[str, Field(max_length=253), AfterValidator(mail_domain)],
        "Bounce domain",
        "Return-path domain of its messages; blank: SENDPOOL_BOUNCE_DOMAIN.",
        default=None,
        nullable=True,
    ),
    FieldDef("sending_limit", Count, "Sending limit", "Per day; 0 sends nothing."),
    FieldDef(
        "hourly_limit", Count, "Hourly limit", "Blank: only the daily limit.", None, nullable=True
    ),
    FieldDef(
        "rate_per_second",
        Annotated[float, Field(gt=0, le=1_000_000)],
        "Rate",
        "Messages per second; blank: no limit.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "rebalance_ceiling",
        Count,
        "Rebalancing ceiling",
        "Daily rebalancing never raises the sending limit past it; blank: no ceiling.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "max_connections", Annotated[int, Field(ge=1, le=200)], "Connections", "Open at once.", 4
    ),
    FieldDef(
        "max_messages_per_connection",
        Annotated[int, Field(ge=1, le=1_000_000)],
        "Messages per connection",
        "Reconnect after this many; blank: no limit.",
        default=None,
        nullable=True,
    ),
    FieldDef(
        "timezone",
        Annotated[str, Field(max_length=64), AfterValidator(check_timezone)],
        "Time zone",
        "IANA zone of the hour and day windows.",
        default="UTC",
    ),
    FieldDef(
        "status",
        Literal["active", "disabled", "paused"],
        "Enabled",
        "A disabled server never sends; a paused one (sendpool pauses a server whose bounce or "
        "complaint rate crosses its threshold) waits until it is made active again.",
        default="active",
    ),
    FieldDef("warmup", Warmup, "Warm-up", "Absent or null: not warming.", None, nullable=True),
    FieldDef(
        "plans",
        Annotated[list[NameRef], Field(max_length=100)],
        "Plans",
        "Plan uids or names.",
        default=[],
    ),
    *(
        FieldDef(h, MailboxChange, h.replace("_", " "), f"{what} mailbox.", None, nullable=True)
        for h, what in zip(HANDLERS, ("Bounce", "Feedback-loop (FBL)"), strict=True)
    ),
)
COMMON_BY_NAME = {d.name: d for d in COMMON}
COMMON_KEYS = frozenset(COMMON_BY_NAME)
# Stored in a column as given; the mailboxes are merged with what is stored (mailboxes.py).
COLUMN_FIELDS = tuple(d for d in COMMON if d.name not in HANDLERS)
NULLABLE = frozenset(d.name for d in COMMON if d.nullable)

# What the services check every change against, whichever face it came from.
ServerFields = model_from("ServerFields", COLUMN_FIELDS, partial=True)


def pool_fields() -> list[FieldDef]:
    """The keys of a server in pool.toml: plans list their servers there, not the reverse."""
    out = [d for d in COLUMN_FIELDS if d.name != "plans"]
    status = COMMON_BY_NAME["status"]
    # Either spelling may be given, so neither has a default of its own.
    alias = FieldDef(STATUS_ALIAS, bool, "Enabled", "Alias of status.", None, nullable=True)
    return [replace(d, default=None, nullable=True) if d is status else d for d in out] + [alias]
