"""Plans: named groups of sending servers; a plan in use cannot be deleted from under its users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from sendpool.core.selectors import DEFAULT as DEFAULT_SELECTOR
from sendpool.core.states import UNFINISHED_CAMPAIGN_STATES
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError, check_name
from sendpool.services.messages.waiting import capacity_added
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.queries import Ref
from sendpool.services.tenancy.weights import resolve_weights, set_weights, weights_of
from sendpool.store.tables import (
    Campaign,
    Customer,
    Plan,
    PlanServer,
    RegionRule,
    SendingServer,
    table,
)
from sendpool.store.types import new_uid


@dataclass(frozen=True, slots=True)
class PlanMember(Ref):
    """A server of the plan, its weight in it and the share of sends that weight asks."""

    weight: int = 1
    share: float = 0.0  # weight over the plan's total: what smooth weighted rotation deals


@dataclass(frozen=True, slots=True)
class PlanDetail:
    uid: str
    name: str
    selector: str
    burst_threshold: int | None
    servers: list[PlanMember]
    customers: int
    created_at: datetime


def plan_detail(conn: Connection, plan_id: int) -> PlanDetail:
    p = conn.execute(select(table(Plan)).where(Plan.id == plan_id)).one()
    servers = conn.execute(
        select(SendingServer.uid, SendingServer.name, PlanServer.weight)
        .join(PlanServer, PlanServer.server_id == SendingServer.id)
        .where(PlanServer.plan_id == plan_id)
        .order_by(SendingServer.name)
    ).all()
    total = sum(int(w) for _u, _n, w in servers) or 1
    customers = conn.execute(
        select(func.count()).select_from(Customer).where(Customer.plan_id == plan_id)
    ).scalar_one()
    return PlanDetail(
        uid=p.uid,
        name=p.name,
        selector=p.selector,
        burst_threshold=p.burst_threshold,
        servers=[PlanMember(u, n, int(w), int(w) / total) for u, n, w in servers],
        customers=int(customers),
        created_at=p.created_at,
    )


def list_plans(conn: Connection) -> list[PlanDetail]:
    ids = conn.execute(select(Plan.id).order_by(Plan.name)).scalars().all()
    return [plan_detail(conn, int(i)) for i in ids]


def get_plan(conn: Connection, ref: str) -> PlanDetail:
    return plan_detail(conn, refs.plan_id(conn, ref))


def _name_free(conn: Connection, name: str, plan_id: int | None = None) -> None:
    """Names are trimmed (check_name) and unique without regard to case."""
    taken = refs.name_clash(conn, "plan", name, except_id=plan_id)
    if taken is not None:
        raise ConflictError(f"a plan named {taken!r} already exists", field="name")


def _server_ids(conn: Connection, names: list[str]) -> set[int]:
    try:
        return {refs.server_id(conn, r) for r in names}
    except NotFoundError as exc:
        raise FieldError([("servers", str(exc))]) from None


def _set_servers(conn: Connection, plan_id: int, server_ids: set[int]) -> None:
    P = table(PlanServer)
    conn.execute(delete(P).where(P.c.plan_id == plan_id))
    if server_ids:
        conn.execute(P.insert(), [{"plan_id": plan_id, "server_id": s} for s in server_ids])


def create_plan(
    conn: Connection,
    *,
    name: str,
    burst_threshold: int | None = None,
    servers: list[str] | None = None,
    selector: str | None = None,
    weights: Mapping[str, object] | None = None,
    actor: str,
    now: datetime,
) -> PlanDetail:
    """``weights``: server uid or name -> weight (1..1000), each a server of ``servers``."""
    server_ids = _server_ids(conn, servers or [])
    weighed = resolve_weights(conn, weights or {}, server_ids)
    name = check_name("name", name)
    _name_free(conn, name)
    T = table(Plan)
    plan_id = conn.execute(
        T.insert()
        .values(
            uid=new_uid(),
            name=name,
            burst_threshold=burst_threshold,
            selector=selector or DEFAULT_SELECTOR,
            created_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    _set_servers(conn, plan_id, server_ids)
    set_weights(conn, plan_id, weighed)
    write_audit(conn, actor=actor, action="plan.create", now=now, detail={"plan": name})
    return plan_detail(conn, plan_id)


def update_plan(
    conn: Connection, ref: str, *, changes: Mapping[str, Any], actor: str, now: datetime
) -> PlanDetail:
    """``changes`` may hold name, burst_threshold (None clears it), servers (replaces them),
    selector, and weights (server -> weight, for servers of the plan as it will be; others
    keep theirs, and servers given anew weigh 1 unless named here)."""
    plan_id = refs.plan_id(conn, ref)
    nulls = [
        (k, "must not be null")
        for k in ("name", "servers", "selector", "weights")
        if k in changes and changes[k] is None
    ]
    if nulls:
        raise FieldError(nulls)
    values = {k: v for k, v in changes.items() if k in ("name", "burst_threshold", "selector")}
    if "name" in values:
        values["name"] = check_name("name", values["name"])
        _name_free(conn, values["name"], plan_id)
    old = weights_of(conn, plan_id)
    members = set(old)
    wanted = _server_ids(conn, list(changes["servers"])) if "servers" in changes else members
    weighed = resolve_weights(conn, changes.get("weights") or {}, wanted)
    if "servers" in changes:
        _set_servers(conn, plan_id, wanted)
        # A server that stays keeps its weight; one given anew weighs 1.
        set_weights(conn, plan_id, {s: w for s, w in old.items() if s in wanted and w != 1})
        if wanted - members:
            capacity_added(conn, plans=[plan_id], now=now)
    set_weights(conn, plan_id, weighed)
    if values:
        conn.execute(update(table(Plan)).where(Plan.id == plan_id).values(**values))
    detail = {"plan": plan_detail(conn, plan_id).name, "changes": sorted(changes)}
    write_audit(conn, actor=actor, action="plan.update", now=now, detail=detail)
    return plan_detail(conn, plan_id)


def delete_plan(conn: Connection, ref: str, *, actor: str, now: datetime) -> str:
    """Refused while customers, region rules or unfinished campaigns still name the plan."""
    plan_id = refs.plan_id(conn, ref)
    unfinished = Campaign.status.in_(UNFINISHED_CAMPAIGN_STATES)
    users = {
        "customers": select(Customer.name).where(Customer.plan_id == plan_id),
        "region rules": select(RegionRule.region).where(RegionRule.plan_id == plan_id),
        "campaigns": select(Campaign.uid).where(Campaign.plan_id == plan_id, unfinished),
    }
    in_use = []
    for what, stmt in users.items():
        names = sorted(conn.execute(stmt).scalars())
        if names:
            in_use.append(f"{what}: {', '.join(names[:10])}")
    if in_use:
        raise ConflictError("the plan is still in use (" + "; ".join(in_use) + "); move them first")
    detail = plan_detail(conn, plan_id)
    conn.execute(delete(table(Plan)).where(Plan.id == plan_id))
    write_audit(conn, actor=actor, action="plan.delete", now=now, detail={"plan": detail.name})
    return detail.uid


def attach_server(
    conn: Connection, ref: str, server_ref: str, *, attach: bool, actor: str, now: datetime
) -> PlanDetail:
    """Put a server in a plan or take it out; doing it twice changes nothing."""
    plan_id = refs.plan_id(conn, ref)
    server_id = refs.server_id(conn, server_ref)
    P = table(PlanServer)
    member = P.c.plan_id == plan_id, P.c.server_id == server_id
    present = conn.execute(select(P.c.plan_id).where(*member)).first() is not None
    if attach and not present:
        conn.execute(P.insert().values(plan_id=plan_id, server_id=server_id))
        capacity_added(conn, plans=[plan_id], now=now)  # what waits may go through it now
    elif not attach and present:
        conn.execute(delete(P).where(*member))
    if attach != present:
        detail = plan_detail(conn, plan_id)
        action = "plan.attach_server" if attach else "plan.detach_server"
        write_audit(
            conn,
            actor=actor,
            action=action,
            now=now,
            server_id=server_id,
            detail={"plan": detail.name},
        )
    return plan_detail(conn, plan_id)
