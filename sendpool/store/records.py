"""Plain rows the store hands to the layers above, free of any session or engine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sendpool.core.backoff import BackoffState
from sendpool.core.backoff_rules import Deferral
from sendpool.core.providers import GroupLimits, ProviderGroup
from sendpool.core.windows import ServerWindows


@dataclass(frozen=True, slots=True)
class ServerRow:
    id: int
    uid: str
    name: str
    type: str
    status: str
    health: str
    sending_limit: int
    hourly_limit: int | None
    rate_per_second: float | None
    max_connections: int
    max_messages_per_connection: int | None
    timezone: str
    default_from_email: str | None
    settings: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)
    warmup: dict[str, Any] | None
    warmup_held_days: int
    next_check_at: datetime | None
    paused_until: datetime | None
    health_checked_at: datetime | None
    health_error: str | None
    last_activity_at: datetime | None
    smtputf8: bool | None = None  # what its EHLO offered at the last check; None: not yet
    bounce_domain: str | None = None  # its own return-path domain; None: the global default
    status_reason: str | None = None  # why it is paused (status "paused")


@dataclass(frozen=True, slots=True)
class PoolRows:
    """Everything the dispatcher reads about the pool, loaded in one go."""

    servers: tuple[ServerRow, ...]
    plan_servers: dict[int, frozenset[int]]
    plan_names: dict[int, str]
    plan_burst: dict[int, int | None]
    region_rules: dict[str, int]
    plan_selector: dict[int, str] = field(default_factory=dict)  # absent: round-robin
    # plan id -> server id -> the attachment's weight; absent: 1 (core/selectors).
    plan_weights: dict[int, dict[int, int]] = field(default_factory=dict)
    # (server id, provider group) -> its engaged adaptive back-off (store/backoffs.py).
    backoffs: dict[tuple[int, str], BackoffState] = field(default_factory=dict)
    # The operator's provider groups, in precedence order (core/providers.py), and
    # (server id, group) -> that server's limits to the group (store/providers.py).
    provider_groups: tuple[ProviderGroup, ...] = ()
    provider_limits: dict[tuple[int, str], GroupLimits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    uid: str
    customer_id: int
    plan_id: int | None
    status: str
    recipient_count: int
    subject: str
    from_email: str
    from_name: str | None
    reply_to: str | None
    text_body: str | None
    html_body: str | None
    updated_at: datetime
    list_id: int | None = None  # whose subscribers it goes to: unsubscribe tokens name it


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    uid: str
    name: str
    plan_id: int | None
    region: str | None


@dataclass(slots=True)
class ClaimedMessage:
    id: int
    uid: str
    customer_id: int
    campaign_id: int | None
    subscriber_id: int | None
    recipient: str
    kind: str
    attempts: int
    queued_at: datetime
    payload: dict[str, Any] | None
    reserved_server_id: int | None = None
    reserved_at: datetime | None = None
    handed_at: datetime | None = None
    retry_server_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    # It already waited once for room (its reason says so): its skips are counted.
    waited: bool = False


@dataclass(slots=True)
class MessageUpdate:
    """A claimed message's new state; applied only while the claim is still ours."""

    id: int
    status: str
    due_at: datetime
    attempts: int
    server_id: int | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    smtp_code: int | None = None
    smtp_reply: str | None = None
    message_id: str | None = None
    remote_id: str | None = None
    hold: str | None = None  # a HoldReason while held back; None clears it
    retry_server_id: int | None = None  # try this server first (an unknown outcome there)


@dataclass(frozen=True, slots=True)
class HealthChange:
    server_id: int
    health: str  # healthy | degraded
    at: datetime
    error: str | None
    next_check_at: datetime | None
    checked: bool = False
    smtputf8: bool | None = None  # what the check learnt; None: it learnt nothing of it
    vendor_daily_limit: int | None = None  # the vendor's own daily limit, if it told one


@dataclass(frozen=True, slots=True)
class Held:
    """One message's reserved unit, named so a ledger can give back exactly that one.

    ``reserved_at`` is the time its reservation marks carry: a ledger that
    keeps units per message (Redis) gives a unit back only for the very
    reservation it granted, never for an older or a newer one.
    """

    message_id: int
    server_id: int
    windows: ServerWindows
    reserved_at: datetime


def units_of(held: Iterable[Held]) -> dict[tuple[int, ServerWindows], int]:
    """The same units counted per server and windows, for ledgers that count them so."""
    counts: dict[tuple[int, ServerWindows], int] = {}
    for h in held:
        key = (h.server_id, h.windows)
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class ReservationMark:
    """Whose messages a reservation is for, in the order their units are granted."""

    holder: str
    message_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SuppressionRecord:
    """An address this customer must not mail again, and why (a hard bounce, say)."""

    customer_id: int
    email: str
    reason: str
    server_id: int | None
    kind: str = "hard_bounce"  # a refusal at send time about the address itself


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A delivery event recorded against the server that answered it."""

    server_id: int | None
    message_id: int
    kind: str
    detail: str
    customer_id: int | None = None
    recipient: str | None = None
    status_code: str | None = None  # RFC 3463, when the reply carried one


@dataclass(frozen=True, slots=True)
class SkipCount:
    plan_id: int
    server_id: int
    day: str
    code: str
    count: int
    last_reason: str


@dataclass(slots=True)
class RecordBatch:
    """What a worker writes back after a round of sends, in one transaction."""

    updates: list[MessageUpdate] = field(default_factory=list)
    health: list[HealthChange] = field(default_factory=list)
    paused: dict[int, datetime] = field(default_factory=dict)
    suppressions: list[SuppressionRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    skips: list[SkipCount] = field(default_factory=list)
    activity: dict[int, datetime] = field(default_factory=dict)
    # Adaptive back-off's facts (store/backoffs.py): each 4xx reply with the
    # recipient's provider group, and messages accepted per (server id, group).
    deferrals: list[Deferral] = field(default_factory=list)
    group_sent: dict[tuple[int, str], int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.deferrals
            or self.group_sent
            or self.updates
            or self.health
            or self.paused
            or self.suppressions
            or self.events
            or self.skips
            or self.activity
        )
