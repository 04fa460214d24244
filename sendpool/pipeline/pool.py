"""The pool as this worker sees it: loaded from the catalog, refreshed every few seconds.

A server failure seen here marks the server degraded at once, before the
database hears of it, so the next batch already goes elsewhere.

Every send in flight asks for the pool, so when it goes stale hundreds of
callers find it so at once: they share one load instead of each reading the
catalog (that was 95 reads in a 10-second run instead of 5).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sendpool.core.providers import GroupLimits, ProviderMap, with_shipped
from sendpool.core.servers import ServerView
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.pipeline.ports import Catalog
from sendpool.store.catalog import warmup_schedule, warmup_share
from sendpool.store.records import PoolRows, ServerRow
from sendpool.transports.registry import offers_smtputf8
from sendpool.transports.spec import ServerSpec


def view_of(row: ServerRow) -> ServerView:
    return ServerView(
        id=row.id,
        name=row.name,
        enabled=row.status == ServerStatus.ACTIVE,
        degraded=row.health == ServerHealth.DEGRADED,
        sending_limit=row.sending_limit,
        hourly_limit=row.hourly_limit,
        rate_per_second=row.rate_per_second,
        timezone=row.timezone,
        warmup=warmup_schedule(row.warmup),
        warmup_held_days=row.warmup_held_days,
        warmup_share=warmup_share(row.warmup),
        next_check_at=row.next_check_at,
        paused_until=row.paused_until,
        smtputf8=offers_smtputf8(row.type, row.smtputf8),
        paused_reason=paused_reason(row),
    )


def paused_reason(row: ServerRow) -> str | None:
    """Why a paused server is paused; one paused by hand may carry no reason."""
    if row.status != ServerStatus.PAUSED:
        return None
    return row.status_reason or "paused by an operator"


def spec_of(
    row: ServerRow, timeout: float, bounce_domain: str | None = None, bounce_local: str = "bounces"
) -> ServerSpec:
    """``bounce_domain`` is the global default, for a server without one of its own."""
    return ServerSpec(
        id=row.id,
        uid=row.uid,
        name=row.name,
        type=row.type,
        settings=row.settings,
        secrets=row.secrets,
        max_connections=row.max_connections,
        max_messages_per_connection=row.max_messages_per_connection,
        timeout=timeout,
        bounce_domain=row.bounce_domain or bounce_domain,
        bounce_local=bounce_local,
    )


class MxHosts(Protocol):
    """A domain's MX hosts if known now, without waiting (pipeline/mx.py)."""

    def hosts(self, domain: str) -> Sequence[str] | None: ...


def with_group_limits(
    specs: dict[int, ServerSpec], limits: Mapping[tuple[int, str], GroupLimits]
) -> dict[int, ServerSpec]:
    """Each spec with its messages per connection per group: the transport closes by it."""
    per: dict[int, dict[str, int]] = {}
    for (server_id, group), lim in limits.items():
        if lim.messages_per_connection is not None:
            per.setdefault(server_id, {})[group] = lim.messages_per_connection
    return {
        i: dataclasses.replace(s, group_messages_per_connection=per[i]) if i in per else s
        for i, s in specs.items()
    }


@dataclass(frozen=True, slots=True)
class PoolState:
    rows: PoolRows
    views: dict[int, ServerView]
    specs: dict[int, ServerSpec]
    mx: MxHosts | None = None  # set when MX lookups are on (Settings.mx_lookups)
    providers: ProviderMap = field(init=False)

    def __post_init__(self) -> None:
        # Indexed once per load of the pool, not once per message.
        object.__setattr__(self, "providers", ProviderMap(with_shipped(self.rows.provider_groups)))

    def group_of(self, domain: str) -> str | None:
        """The provider group of a recipient domain (A-label, lower-case), if any."""
        named = self.providers.by_domain(domain)
        if named is not None or self.mx is None or not self.providers.uses_mx:
            return named
        hosts = self.mx.hosts(domain)
        return self.providers.by_mx(hosts) if hosts else None

    def group_limits(self, server_id: int, group: str | None) -> GroupLimits | None:
        return None if group is None else self.rows.provider_limits.get((server_id, group))

    def plan_members(self, plan_id: int) -> frozenset[int]:
        return self.rows.plan_servers.get(plan_id, frozenset())

    def weights(self, plan_id: int) -> Mapping[int, int]:
        """Each member's weight in the plan; a member not named weighs 1."""
        return self.rows.plan_weights.get(plan_id, {})


def _retrieved(load: asyncio.Future[PoolState]) -> None:
    if not load.cancelled():
        load.exception()


class PoolCache:
    def __init__(
        self,
        catalog: Catalog,
        *,
        ttl: float = 2.0,
        send_timeout: float = 30.0,
        bounce_domain: str | None = None,
        bounce_local: str = "bounces",
        mx: MxHosts | None = None,
    ) -> None:
        self.catalog = catalog
        self.mx = mx
        self.ttl = ttl
        self.send_timeout = send_timeout
        self.bounce = (bounce_domain, bounce_local)  # the return path's defaults (§6)
        self._state: PoolState | None = None
        self._loaded = 0.0
        self._loading: asyncio.Future[PoolState] | None = None  # the load callers share
        self._epoch = 0  # moves on at each invalidate: a load begun before it is not kept
        self._degraded: dict[int, tuple[datetime, datetime | None]] = {}
        self._paused: dict[int, datetime] = {}

    def invalidate(self) -> None:
        """The next ``get`` reads the catalog afresh, even if a read is under way now."""
        self._loaded = 0.0
        self._loading = None
        self._epoch += 1

    def loaded_before(self, moment: float) -> bool:
        """Whether the pool in hand was read before ``moment`` (``time.monotonic()``)."""
        return self._state is None or self._loaded < moment

    async def get(self, now: datetime) -> PoolState:
        state = self._state
        if state is not None and time.monotonic() - self._loaded <= self.ttl:
            return state
        if self._loading is None:
            # Read at the first caller's ``now``: the others ask within moments of it.
            self._loading = asyncio.ensure_future(self._load(now, self._epoch))
            # Its error is the callers'; if every one of them was cancelled, nobody is told.
            self._loading.add_done_callback(_retrieved)
        # Shielded: a caller cancelled while waiting does not cancel the others' load.
        return await asyncio.shield(self._loading)

    async def _load(self, now: datetime, epoch: int) -> PoolState:
        try:
            rows = await self.catalog.pool(now)
            state = self._build(rows)
        finally:
            if epoch == self._epoch:
                self._loading = None
        if epoch == self._epoch:  # else invalidated meanwhile: its callers only get it
            self._state, self._loaded = state, time.monotonic()
        return state

    def _build(self, rows: PoolRows) -> PoolState:
        views: dict[int, ServerView] = {}
        for row in rows.servers:
            view = view_of(row)
            local = self._degraded.get(row.id)
            if local is not None:
                since, next_check = local
                checked = row.health_checked_at
                if row.health == ServerHealth.HEALTHY and checked is not None and checked > since:
                    del self._degraded[row.id]  # a check passed after our failure
                else:
                    view = dataclasses.replace(view, degraded=True, next_check_at=next_check)
            paused = self._paused.get(row.id)
            if paused is not None and (view.paused_until is None or view.paused_until < paused):
                view = dataclasses.replace(view, paused_until=paused)
            views[row.id] = view
        specs = {r.id: spec_of(r, self.send_timeout, *self.bounce) for r in rows.servers}
        specs = with_group_limits(specs, rows.provider_limits)
        return PoolState(rows, views, specs, self.mx)

    def mark_degraded(self, server_id: int, at: datetime, next_check: datetime | None) -> bool:
        """True the first time, so an outage is logged once and not once per message."""
        first = server_id not in self._degraded
        if first:
            self._degraded[server_id] = (at, next_check)
        if self._state is not None and server_id in self._state.views:
            v = self._state.views[server_id]
            self._state.views[server_id] = dataclasses.replace(
                v, degraded=True, next_check_at=next_check
            )
        return first

    def mark_paused(self, server_id: int, until: datetime) -> None:
        self._paused[server_id] = until
        if self._state is not None and server_id in self._state.views:
            v = self._state.views[server_id]
            self._state.views[server_id] = dataclasses.replace(v, paused_until=until)

    def mark_healthy(self, server_id: int) -> None:
        self._degraded.pop(server_id, None)
        self.invalidate()
