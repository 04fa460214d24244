"""Create, change and remove sending servers; everything is checked before the first write.

The server's type decides which connection settings and secrets it takes
(transports/registry.py); its mailboxes are set the same way. Secrets are
sealed with the SecretBox at once and never leave this module in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, select, update

from sendpool.core.room import any_adds_room
from sendpool.core.states import ServerStatus
from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.messages.waiting import capacity_added
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.changes import CREATE_DEFAULTS, CheckedChange, check_change
from sendpool.services.servers.mailboxes import SEALED, stored_handlers
from sendpool.services.servers.queries import ServerDetail, server_detail
from sendpool.store.tables import (
    DeliveryEvent,
    DispatchSkip,
    Message,
    PlanServer,
    QuotaUsage,
    RateState,
    SendingServer,
    table,
)
from sendpool.store.types import new_uid
from sendpool.store.waking import plans_of_servers

# A change to any of these may cure (or cause) a server failure: health is re-learnt.
_CONNECTION_KEYS = ("type", "settings", "secrets_sealed")


def _plan_ids(conn: Connection, names: list[str]) -> set[int]:
    try:
        return {refs.plan_id(conn, ref) for ref in names}
    except LookupError as exc:
        raise FieldError([("plans", str(exc))]) from None


def _set_plans(conn: Connection, server_id: int, plan_ids: set[int]) -> None:
    P = table(PlanServer)
    conn.execute(delete(P).where(P.c.server_id == server_id))
    if plan_ids:
        conn.execute(P.insert(), [{"plan_id": p, "server_id": server_id} for p in plan_ids])


def _name_free(conn: Connection, name: str, server_id: int | None = None) -> None:
    """Names are unique without regard to case: "MG" beside "mg" is a look-alike, refused."""
    taken = refs.name_clash(conn, "server", name, except_id=server_id)
    if taken is not None:
        raise ConflictError(f"a sending server named {taken!r} already exists", field="name")


def _same_handler(box: SecretBox, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Equal settings and equal passwords: a password sealed twice is two different tokens."""
    a, b = dict(a or {}), dict(b or {})
    return box.open(a.pop(SEALED, None)) == box.open(b.pop(SEALED, None)) and a == b


def _store_handlers(
    conn: Connection,
    box: SecretBox,
    server_id: int,
    checked: CheckedChange,
    *,
    actor: str,
    now: datetime,
) -> None:
    stored = stored_handlers(conn, [server_id])[server_id]
    values = {h: v for h, v in checked.handlers.items() if not _same_handler(box, v, stored[h])}
    if not values:
        return
    T = table(SendingServer)
    conn.execute(update(T).where(T.c.id == server_id).values(**values, updated_at=now))
    detail = {"changes": sorted(values)}  # which mailboxes; their passwords stay out of the log
    write_audit(
        conn, actor=actor, action="server.handlers", now=now, server_id=server_id, detail=detail
    )


def create_server(
    conn: Connection, box: SecretBox, *, fields: Mapping[str, Any], actor: str, now: datetime
) -> ServerDetail:
    """A new server from every key given; its mailboxes too (``bounce_handler``, ``fbl_handler``)."""
    checked = check_change(box, fields, current_type=None, settings={}, secrets={}, handlers={})
    common = checked.common
    plan_ids = _plan_ids(conn, common.pop("plans", None) or [])
    _name_free(conn, common["name"])
    T = table(SendingServer)
    server_id = conn.execute(
        T.insert()
        .values(
            uid=new_uid(),
            health="unknown",
            **{**CREATE_DEFAULTS, **common},
            settings=checked.settings,
            secrets_sealed=box.seal(checked.secrets),
            created_at=now,
            updated_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    _set_plans(conn, server_id, plan_ids)
    if common.get("status", ServerStatus.ACTIVE) == ServerStatus.ACTIVE:
        capacity_added(conn, plans=plan_ids, now=now)  # a new server: room in its plans
    write_audit(
        conn,
        actor=actor,
        action="server.create",
        now=now,
        server_id=server_id,
        detail={"server": common["name"], "type": common["type"]},
    )
    _store_handlers(conn, box, server_id, checked, actor=actor, now=now)
    return server_detail(conn, box, server_id)


def update_server(
    conn: Connection,
    box: SecretBox,
    ref: str,
    *,
    changes: Mapping[str, Any],
    actor: str,
    now: datetime,
) -> ServerDetail:
    """Apply a partial change; a new ``type`` starts its settings and secrets afresh."""
    server_id = refs.server_id(conn, ref)
    T = table(SendingServer)
    row = conn.execute(select(T).where(T.c.id == server_id)).one()
    checked = check_change(
        box,
        changes,
        current_type=row.type,
        settings=row.settings or {},
        secrets=box.open(row.secrets_sealed),
        handlers=stored_handlers(conn, [server_id])[server_id],
    )
    common = checked.common
    plans = common.pop("plans", None)
    plan_ids = _plan_ids(conn, plans) if plans is not None else None
    if "name" in common:
        _name_free(conn, common["name"], server_id)
    values: dict[str, Any] = {**common, "settings": checked.settings}
    if common.get("status", ServerStatus.PAUSED) != ServerStatus.PAUSED:
        values["status_reason"] = None  # resumed (or disabled): the pause's reason is over
    if checked.secrets != box.open(row.secrets_sealed):
        values["secrets_sealed"] = box.seal(checked.secrets)
    diff = {
        k: {"from": getattr(row, k), "to": v} for k, v in values.items() if getattr(row, k) != v
    }
    if "secrets_sealed" in diff:
        diff["secrets_sealed"] = {"from": "(hidden)", "to": "(changed)"}
    if any(k in diff for k in _CONNECTION_KEYS):
        values.update(health="unknown", health_error=None, degraded_at=None, next_check_at=None)
    if diff:
        conn.execute(update(T).where(T.c.id == server_id).values(**values, updated_at=now))
    joined: set[int] = set()
    if plan_ids is not None:
        before = {p.uid for p in server_detail(conn, box, server_id).plans}
        joined = plan_ids - set(plans_of_servers(conn, [server_id]))
        _set_plans(conn, server_id, plan_ids)
        after = {p.uid for p in server_detail(conn, box, server_id).plans}
        if before != after:
            diff["plans"] = {"from": sorted(before), "to": sorted(after)}
    moved = {k: (d["from"], d["to"]) for k, d in diff.items() if k != "plans"}
    if "health" in values:
        moved["health"] = (row.health, values["health"])
    if any_adds_room(moved):
        capacity_added(conn, servers=[server_id], now=now)
    elif joined:
        capacity_added(conn, plans=joined, now=now)
    if diff:
        detail = {"server": values.get("name", row.name), "changes": diff}
        write_audit(
            conn, actor=actor, action="server.update", now=now, server_id=server_id, detail=detail
        )
    _store_handlers(conn, box, server_id, checked, actor=actor, now=now)
    return server_detail(conn, box, server_id)


def delete_server(conn: Connection, ref: str, *, actor: str, now: datetime) -> tuple[str, str]:
    """Delete a server without history; disable one with history. Returns (uid, outcome)."""
    server_id = refs.server_id(conn, ref)
    T = table(SendingServer)
    row = conn.execute(select(T.c.uid, T.c.name, T.c.status).where(T.c.id == server_id)).one()
    history = conn.execute(
        select(
            exists().where(Message.server_id == server_id)
            | exists().where(DeliveryEvent.server_id == server_id)
        )
    ).scalar()
    detail = {"server": row.name}
    if history:
        if row.status != ServerStatus.DISABLED:
            conn.execute(
                update(T)
                .where(T.c.id == server_id)
                .values(status=ServerStatus.DISABLED, updated_at=now)
            )
            write_audit(
                conn,
                actor=actor,
                action="server.disable",
                now=now,
                server_id=server_id,
                detail=detail,
            )
        return row.uid, ServerStatus.DISABLED
    for model in (QuotaUsage, RateState, DispatchSkip):
        t = table(model)
        conn.execute(delete(t).where(t.c.server_id == server_id))
    conn.execute(delete(T).where(T.c.id == server_id))
    write_audit(
        conn, actor=actor, action="server.delete", now=now, server_id=server_id, detail=detail
    )
    return row.uid, "deleted"
