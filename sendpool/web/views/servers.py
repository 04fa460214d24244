"""Sending servers as the admin pages show and edit them: one status chip, usage, handlers.

Saving hands every part of the form (common keys, the type's settings, the
bounce and FBL mailboxes) to the server commands, which check it all before
writing anything, so a page can show every mistake at once, each next to its field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.errors import ConflictError
from sendpool.services.operations.events import (
    ServerReturns,
    Thresholds,
    level,
    rates_24h,
    server_returns,
)
from sendpool.services.servers import commands as server_commands
from sendpool.services.servers.fields import enabled_status
from sendpool.services.servers.mailboxes import HANDLERS, HandlerView, handler_views
from sendpool.services.servers.queries import Ref, ServerDetail, get_server
from sendpool.services.servers.stats import ServerStats, WindowUsage, server_rows, server_stats
from sendpool.services.servers.stats import window_usage as usage_of
from sendpool.store.records import ServerRow
from sendpool.store.tables import Plan, SendingServer
from sendpool.transports.registry import ServerSettingsError, server_type

Handlers = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ServerLine:
    """One server in a list: what it is, whether it sends, how much of its windows is used."""

    uid: str
    name: str
    type: str
    type_label: str
    chip: str  # healthy | degraded | disabled | warming | unchecked
    sending_limit: int
    hourly_limit: int | None
    usage: WindowUsage
    last_activity_at: datetime | None
    bounce_rate: float = 0.0  # the last 24 h, as the automatic pause reads it
    bounce_level: str = "ok"  # ok | near | pause (events.level)

    @property
    def bounce_hot(self) -> bool:
        return self.bounce_level in ("near", "pause")


@dataclass(frozen=True, slots=True)
class ServerPage:
    detail: ServerDetail
    type_label: str
    chip: str
    stats: ServerStats
    handlers: dict[str, HandlerView]
    other_plans: list[Ref]  # plans it could be attached to
    returns: ServerReturns  # the last 24 h of bounces and complaints, and the latest events


def type_label(type_name: str) -> str:
    try:
        return server_type(type_name).label or type_name
    except ServerSettingsError:
        return type_name


def chip_of(status: str, health: str, warming: bool) -> str:
    """The one word an operator reads first: will this server send, and how."""
    if status in (ServerStatus.DISABLED, ServerStatus.PAUSED):
        return status
    if health == ServerHealth.DEGRADED:
        return ServerHealth.DEGRADED
    if warming:
        return "warming"
    return ServerHealth.HEALTHY if health == ServerHealth.HEALTHY else "unchecked"


def server_lines(
    conn: Connection, box: SecretBox, now: datetime, thresholds: Thresholds | None = None
) -> list[ServerLine]:
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    rows = server_rows(conn, box, ids, now)
    limits = thresholds or Thresholds()
    rates = rates_24h(conn, [r.id for r in rows], now)
    lines = lines_of(rows, usage_of(conn, rows, now))
    return [
        dataclasses.replace(
            line,
            bounce_rate=rates[r.id].bounce_rate,
            bounce_level=level(
                rates[r.id].bounce_rate,
                limits.pause_bounce_rate,
                rates[r.id].sent >= limits.min_volume,
            ),
        )
        for r, line in zip(rows, lines, strict=True)
    ]


def lines_of(rows: Sequence[ServerRow], usage: Mapping[int, WindowUsage]) -> list[ServerLine]:
    """One line per server, in the order of ``rows``, without its last day's returns.

    The pool page shows no bounce rate, so it builds its lines from the pool
    it has loaded and skips the 24-hour figures (``server_lines`` adds them).
    """
    return [
        ServerLine(
            uid=r.uid,
            name=r.name,
            type=r.type,
            type_label=type_label(r.type),
            chip=chip_of(r.status, r.health, usage[r.id].warming),
            sending_limit=r.sending_limit,
            hourly_limit=r.hourly_limit,
            usage=usage[r.id],
            last_activity_at=r.last_activity_at,
        )
        for r in rows
    ]


def server_page(
    conn: Connection,
    box: SecretBox,
    ref: str,
    now: datetime,
    thresholds: Thresholds | None = None,
) -> ServerPage:
    detail = get_server(conn, box, ref)
    stats = server_stats(conn, box, detail.uid, now)
    server_id = refs.server_id(conn, detail.uid)
    attached = {p.uid for p in detail.plans}
    plans = conn.execute(select(Plan.uid, Plan.name).order_by(Plan.name)).all()
    return ServerPage(
        detail=detail,
        type_label=type_label(detail.type),
        chip=chip_of(detail.status, detail.health, stats.usage.warming),
        stats=stats,
        handlers=handler_views(conn, [server_id])[server_id],
        other_plans=[Ref(u, n) for u, n in plans if u not in attached],
        returns=server_returns(
            conn, server_id, now, thresholds or Thresholds(), _gate(detail.warmup)
        ),
    )


def _gate(warmup: Mapping[str, Any] | None) -> float | None:
    gate = (warmup or {}).get("gate_bounce_rate")
    return float(gate) if gate is not None else None


def _merged(fields: Mapping[str, Any], handlers: Handlers) -> dict[str, Any]:
    """The form's common keys and type settings, with its mailboxes beside them."""
    return {**fields, **{h: handlers[h] for h in HANDLERS if h in handlers}}


def add_server(
    conn: Connection,
    box: SecretBox,
    *,
    fields: Mapping[str, Any],
    handlers: Handlers,
    actor: str,
    now: datetime,
) -> ServerDetail:
    try:
        return server_commands.create_server(
            conn, box, fields=_merged(fields, handlers), actor=actor, now=now
        )
    except ConflictError as exc:
        raise exc.as_field_error() from None


def save_server(
    conn: Connection,
    box: SecretBox,
    ref: str,
    *,
    changes: Mapping[str, Any],
    handlers: Handlers,
    actor: str,
    now: datetime,
) -> ServerDetail:
    if "status" in changes:
        current = conn.execute(
            select(SendingServer.status).where(SendingServer.id == refs.server_id(conn, ref))
        ).scalar_one()
        enabled = changes["status"] != ServerStatus.DISABLED
        changes = {**changes, "status": enabled_status(enabled, current)}
    try:
        return server_commands.update_server(
            conn, box, ref, changes=_merged(changes, handlers), actor=actor, now=now
        )
    except ConflictError as exc:
        raise exc.as_field_error() from None
