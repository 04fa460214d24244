"""What the dispatcher knows of a sending server, a send and the quota used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sendpool.core.warmup import WarmupSchedule
from sendpool.core.warmup_share import ShareWarmup
from sendpool.core.windows import ServerWindows, windows_at


class SendClass(StrEnum):
    """Low-volume sends may warm servers up; burst sends must not touch them."""

    LOW_VOLUME = "low_volume"
    BURST = "burst"


class AddressNeed(StrEnum):
    """What a message's addresses, in their wire form, ask of the server that takes it.

    Domains go out as A-labels, so only a non-ASCII local part (RFC 6531 §3.3)
    needs a server that offers SMTPUTF8; everything else is plain ASCII.
    """

    ASCII = "ascii"
    SMTPUTF8 = "smtputf8"


def address_need(*wire_addresses: str) -> AddressNeed:
    """SMTPUTF8 when any address (domains already A-labels) still has a non-ASCII character."""
    if all(a.isascii() for a in wire_addresses):
        return AddressNeed.ASCII
    return AddressNeed.SMTPUTF8


DEFAULT_BURST_THRESHOLD = 5000


def send_class_for(
    recipient_count: int | None, threshold: int = DEFAULT_BURST_THRESHOLD
) -> SendClass:
    """Transactional mail (no count) and small campaigns are low-volume."""
    if recipient_count is None or recipient_count < threshold:
        return SendClass.LOW_VOLUME
    return SendClass.BURST


@dataclass(frozen=True, slots=True)
class ServerView:
    """A sending server as the dispatcher sees it at one instant."""

    id: int
    name: str
    enabled: bool = True
    degraded: bool = False
    sending_limit: int = 0
    hourly_limit: int | None = None
    rate_per_second: float | None = None
    timezone: str = "UTC"
    warmup: WarmupSchedule | None = None
    warmup_held_days: int = 0
    next_check_at: datetime | None = None
    paused_until: datetime | None = None
    # Whether it takes non-ASCII addresses (RFC 6531): declared per vendor type,
    # learned from EHLO for SMTP; None until a connection or check has said.
    smtputf8: bool | None = None
    # Why it is paused (status "paused": a rate over its threshold, or an operator);
    # None when it is not. A paused server is not enabled either.
    paused_reason: str | None = None
    warmup_share: ShareWarmup | None = None  # a share of the plan's sends (core/warmup_share.py)

    def share_percent(self, now: datetime) -> int | None:
        """Today's percent of the plan's sends while it warms by share; None if it does not."""
        if self.warmup_share is None:
            return None
        return self.warmup_share.percent_on(self.windows(now).local_day, self.warmup_held_days)

    def windows(self, now: datetime) -> ServerWindows:
        return windows_at(now, self.timezone)

    def warmup_cap(self, now: datetime) -> int | None:
        if self.warmup is None:
            return None
        return self.warmup.cap_on(self.windows(now).local_day, self.warmup_held_days)

    def is_warming(self, now: datetime) -> bool:
        if self.warmup is None:
            return False
        return self.warmup.is_warming(self.windows(now).local_day, self.warmup_held_days)

    def caps(self, now: datetime) -> Caps:
        """Effective caps now: the daily cap is min(sending_limit, warm-up cap) while warming."""
        daily = self.sending_limit
        from_warmup = False
        wcap = self.warmup_cap(now)
        if wcap is not None and self.is_warming(now) and wcap < daily:
            daily, from_warmup = wcap, True
        return Caps(
            daily=max(0, daily),
            hourly=self.hourly_limit,
            rate=self.rate_per_second,
            daily_from_warmup=from_warmup,
        )


@dataclass(frozen=True, slots=True)
class Caps:
    daily: int
    hourly: int | None = None
    rate: float | None = None
    daily_from_warmup: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Units already reserved in a server's current day and hour windows."""

    day_used: int = 0
    hour_used: int = 0


@dataclass(frozen=True, slots=True)
class DispatchContext:
    now: datetime
    send_class: SendClass
    usage: Mapping[int, Usage] = field(default_factory=dict)
    need: AddressNeed = AddressNeed.ASCII

    def usage_of(self, server_id: int) -> Usage:
        return self.usage.get(server_id, Usage())
