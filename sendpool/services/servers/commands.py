"""Create, change and remove sending servers; everything is checked before the first write.

The server's type decides which connection settings and secrets it takes
(transports/registry.py). Secrets are sealed with the SecretBox at once and
never leave this module in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, select, update

from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.fields import common_fields, typed_fields
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

REQUIRED_ON_CREATE = ("name", "type", "sending_limit")
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
    clash = select(SendingServer.id).where(SendingServer.name == name)
    if server_id is not None:
        clash = clash.where(SendingServer.id != server_id)
    if conn.execute(clash).first() is not None:
        raise ConflictError(f"name: a sending server named {name!r} already exists")


def create_server(
    conn: Connection, box: SecretBox, *, fields: Mapping[str, Any], actor: str, now: datetime
) -> ServerDetail:
    missing = [(k, "Field required") for k in REQUIRED_ON_CREATE if fields.get(k) is None]
    if missing:
        raise FieldError(missing)
    common = common_fields(fields)
    settings, secrets = typed_fields(common["type"], fields, {}, {})
    plan_ids = _plan_ids(conn, common.pop("plans", None) or [])
    _name_free(conn, common["name"])
    T = table(SendingServer)
    server_id = conn.execute(
        T.insert()
        .values(
            uid=new_uid(),
            health="unknown",
            **{"status": "active", "max_connections": 4, "timezone": "UTC", **common},
            settings=settings,
            secrets_sealed=box.seal(secrets),
            created_at=now,
            updated_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    _set_plans(conn, server_id, plan_ids)
    write_audit(
        conn,
        actor=actor,
        action="server.create",
        now=now,
        server_id=server_id,
        detail={"server": common["name"], "type": common["type"]},
    )
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
    common = common_fields(changes)
    type_name = common.get("type", row.type)
    fresh = type_name != row.type
    settings, secrets = typed_fields(
        type_name,
        changes,
        {} if fresh else row.settings or {},
        {} if fresh else box.open(row.secrets_sealed),
    )
    plans = common.pop("plans", None)
    plan_ids = _plan_ids(conn, plans) if plans is not None else None
    if "name" in common:
        _name_free(conn, common["name"], server_id)
    values: dict[str, Any] = {**common, "settings": settings}
    if secrets != box.open(row.secrets_sealed):
        values["secrets_sealed"] = box.seal(secrets)
    diff = {
        k: {"from": getattr(row, k), "to": v} for k, v in values.items() if getattr(row, k) != v
    }
    if "secrets_sealed" in diff:
        diff["secrets_sealed"] = {"from": "(hidden)", "to": "(changed)"}
    if any(k in diff for k in _CONNECTION_KEYS):
        values.update(health="unknown", health_error=None, degraded_at=None, next_check_at=None)
    if diff:
        conn.execute(update(T).where(T.c.id == server_id).values(**values, updated_at=now))
    if plan_ids is not None:
        before = {p.uid for p in server_detail(conn, box, server_id).plans}
        _set_plans(conn, server_id, plan_ids)
        after = {p.uid for p in server_detail(conn, box, server_id).plans}
        if before != after:
            diff["plans"] = {"from": sorted(before), "to": sorted(after)}
    if diff:
        detail = {"server": values.get("name", row.name), "changes": diff}
        write_audit(
            conn, actor=actor, action="server.update", now=now, server_id=server_id, detail=detail
        )
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
        if row.status != "disabled":
            conn.execute(
                update(T).where(T.c.id == server_id).values(status="disabled", updated_at=now)
            )
            write_audit(
                conn,
                actor=actor,
                action="server.disable",
                now=now,
                server_id=server_id,
                detail=detail,
            )
        return row.uid, "disabled"
    for model in (QuotaUsage, RateState, DispatchSkip):
        t = table(model)
        conn.execute(delete(t).where(t.c.server_id == server_id))
    conn.execute(delete(T).where(T.c.id == server_id))
    write_audit(
        conn, actor=actor, action="server.delete", now=now, server_id=server_id, detail=detail
    )
    return row.uid, "deleted"
