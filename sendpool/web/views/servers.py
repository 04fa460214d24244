"""Sending servers as the admin pages show and edit them: one status chip, usage, handlers.

Saving checks every part of the form (common keys, the type's settings, the
bounce and FBL mailboxes) before writing anything, so a page can show every
mistake at once, each next to its field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers import commands as server_commands
from sendpool.services.servers.fields import common_fields, typed_fields
from sendpool.services.servers.mailboxes import HANDLERS, HandlerView, handler_view, merge_handler
from sendpool.services.servers.queries import Ref, ServerDetail, get_server
from sendpool.services.servers.stats import ServerStats, WindowUsage, server_rows, server_stats
from sendpool.services.servers.stats import window_usage as usage_of
from sendpool.store.tables import Plan, SendingServer, table
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


@dataclass(frozen=True, slots=True)
class ServerPage:
    detail: ServerDetail
    type_label: str
    chip: str
    stats: ServerStats
    handlers: dict[str, HandlerView]
    other_plans: list[Ref]  # plans it could be attached to


def type_label(type_name: str) -> str:
    try:
        return server_type(type_name).label or type_name
    except ServerSettingsError:
        return type_name


def chip_of(status: str, health: str, warming: bool) -> str:
    """The one word an operator reads first: will this server send, and how."""
    if status == "disabled":
        return "disabled"
    if health == "degraded":
        return "degraded"
    if warming:
        return "warming"
    return "healthy" if health == "healthy" else "unchecked"


def server_lines(conn: Connection, box: SecretBox, now: datetime) -> list[ServerLine]:
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    rows = server_rows(conn, box, ids, now)
    usage = usage_of(conn, rows, now)
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


def server_page(conn: Connection, box: SecretBox, ref: str, now: datetime) -> ServerPage:
    detail = get_server(conn, box, ref)
    stats = server_stats(conn, box, detail.uid, now)
    row = conn.execute(
        select(SendingServer.bounce_handler, SendingServer.fbl_handler).where(
            SendingServer.uid == detail.uid
        )
    ).one()
    attached = {p.uid for p in detail.plans}
    plans = conn.execute(select(Plan.uid, Plan.name).order_by(Plan.name)).all()
    return ServerPage(
        detail=detail,
        type_label=type_label(detail.type),
        chip=chip_of(detail.status, detail.health, stats.usage.warming),
        stats=stats,
        handlers={"bounce_handler": handler_view(row[0]), "fbl_handler": handler_view(row[1])},
        other_plans=[Ref(u, n) for u, n in plans if u not in attached],
    )


def _collect(errors: list[tuple[str, str]], check: Callable[[], object]) -> Any:
    try:
        return check()
    except FieldError as exc:
        errors.extend(exc.errors)
        return None


def _stored_handlers(conn: Connection, server_id: int | None) -> dict[str, Any]:
    if server_id is None:
        return dict.fromkeys(HANDLERS)
    row = conn.execute(
        select(SendingServer.bounce_handler, SendingServer.fbl_handler).where(
            SendingServer.id == server_id
        )
    ).one()
    return dict(zip(HANDLERS, row, strict=True))


def _checked(
    conn: Connection,
    box: SecretBox,
    server_id: int | None,
    fields: Mapping[str, Any],
    handlers: Handlers,
) -> dict[str, Any]:
    """Every part checked; one FieldError with all mistakes, or the handlers to store."""
    errors: list[tuple[str, str]] = []
    if server_id is None:
        errors += [
            (k, "required") for k in server_commands.REQUIRED_ON_CREATE if fields.get(k) is None
        ]
        settings: Mapping[str, Any] = {}
        secrets: Mapping[str, str] = {}
        type_name = fields.get("type")
    else:
        row = conn.execute(select(table(SendingServer)).where(SendingServer.id == server_id)).one()
        type_name = fields.get("type", row.type)
        settings, secrets = row.settings or {}, box.open(row.secrets_sealed)
    _collect(errors, lambda: common_fields(fields))
    if type_name:
        _collect(errors, lambda: typed_fields(str(type_name), fields, settings, secrets))
    stored = _stored_handlers(conn, server_id)
    merged = {
        h: _collect(errors, functools.partial(merge_handler, box, h, stored[h], handlers[h]))
        for h in HANDLERS
        if h in handlers
    }
    if errors:
        raise FieldError(list(dict.fromkeys(errors)))
    return {h: v for h, v in merged.items() if v != stored[h]}


def _store_handlers(
    conn: Connection, server_id: int, values: Mapping[str, Any], actor: str, now: datetime
) -> None:
    if not values:
        return
    T = table(SendingServer)
    conn.execute(update(T).where(T.c.id == server_id).values(**values, updated_at=now))
    detail = {"changes": sorted(values)}
    write_audit(
        conn, actor=actor, action="server.handlers", now=now, server_id=server_id, detail=detail
    )


def _name_field(exc: ConflictError) -> FieldError | ConflictError:
    field, _, message = str(exc).partition(": ")
    return FieldError([(field, message)]) if field == "name" else exc


def add_server(
    conn: Connection,
    box: SecretBox,
    *,
    fields: Mapping[str, Any],
    handlers: Handlers,
    actor: str,
    now: datetime,
) -> ServerDetail:
    values = _checked(conn, box, None, fields, handlers)
    try:
        detail = server_commands.create_server(conn, box, fields=fields, actor=actor, now=now)
    except ConflictError as exc:
        raise _name_field(exc) from None
    _store_handlers(conn, refs.server_id(conn, detail.uid), values, actor, now)
    return detail


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
    server_id = refs.server_id(conn, ref)
    values = _checked(conn, box, server_id, changes, handlers)
    try:
        detail = server_commands.update_server(
            conn, box, ref, changes=changes, actor=actor, now=now
        )
    except ConflictError as exc:
        raise _name_field(exc) from None
    _store_handlers(conn, server_id, values, actor, now)
    return detail
