"""Customers (tenants) and region rules: which plan each customer's mail goes through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from sendpool.core.plans import resolve_plan
from sendpool.core.states import ServerStatus
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError, check_name
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.queries import Ref
from sendpool.store.catalog import region_rules
from sendpool.store.tables import (
    ApiToken,
    Campaign,
    Customer,
    MailingList,
    Message,
    Plan,
    PlanServer,
    RegionRule,
    SendingServer,
    Suppression,
    table,
)
from sendpool.store.types import new_uid


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    uid: str
    name: str
    plan: Ref | None
    region: str | None
    effective_plan: Ref | None  # after region rules: the plan its mail really goes through
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RegionRuleDetail:
    region: str
    plan: Ref


def _plan_ref(conn: Connection, plan_id: int | None) -> Ref | None:
    if plan_id is None:
        return None
    row = conn.execute(select(Plan.uid, Plan.name).where(Plan.id == plan_id)).one()
    return Ref(row.uid, row.name)


def effective_plan_id(conn: Connection, customer_id: int) -> int | None:
    c = conn.execute(
        select(Customer.plan_id, Customer.region).where(Customer.id == customer_id)
    ).one()
    return resolve_plan(None, c.plan_id, c.region, region_rules(conn))


def customer_detail(conn: Connection, customer_id: int) -> CustomerDetail:
    c = conn.execute(select(table(Customer)).where(Customer.id == customer_id)).one()
    return CustomerDetail(
        uid=c.uid,
        name=c.name,
        plan=_plan_ref(conn, c.plan_id),
        region=c.region,
        effective_plan=_plan_ref(conn, effective_plan_id(conn, customer_id)),
        created_at=c.created_at,
    )


def list_customers(conn: Connection) -> list[CustomerDetail]:
    ids = conn.execute(select(Customer.id).order_by(Customer.name)).scalars().all()
    return [customer_detail(conn, int(i)) for i in ids]


def get_customer(conn: Connection, ref: str) -> CustomerDetail:
    return customer_detail(conn, refs.customer_id(conn, ref))


def _values(conn: Connection, changes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = check_name("name", changes["name"])
    if "plan" in changes:
        try:
            values["plan_id"] = refs.plan_id(conn, changes["plan"]) if changes["plan"] else None
        except NotFoundError as exc:
            raise FieldError([("plan", str(exc))]) from None
    if "region" in changes:
        region = changes["region"]
        values["region"] = check_name("region", region, 64) if region else None
    return values


def _name_free(conn: Connection, name: str, customer_id: int | None = None) -> None:
    """Names are trimmed (check_name) and unique without regard to case."""
    taken = refs.name_clash(conn, "customer", name, except_id=customer_id)
    if taken is not None:
        raise ConflictError(f"a customer named {taken!r} already exists", field="name")


def create_customer(
    conn: Connection, *, fields: Mapping[str, Any], actor: str, now: datetime
) -> CustomerDetail:
    if not fields.get("name"):
        raise FieldError([("name", "Field required")])
    values = _values(conn, fields)
    _name_free(conn, values["name"])
    T = table(Customer)
    customer_id = conn.execute(
        T.insert().values(uid=new_uid(), created_at=now, **values).returning(T.c.id)
    ).scalar_one()
    write_audit(
        conn, actor=actor, action="customer.create", now=now, detail={"customer": values["name"]}
    )
    return customer_detail(conn, customer_id)


def update_customer(
    conn: Connection, ref: str, *, changes: Mapping[str, Any], actor: str, now: datetime
) -> CustomerDetail:
    customer_id = refs.customer_id(conn, ref)
    values = _values(conn, changes)
    if "name" in values:
        _name_free(conn, values["name"], customer_id)
    if values:
        conn.execute(update(table(Customer)).where(Customer.id == customer_id).values(**values))
        detail = {"customer": customer_detail(conn, customer_id).name, "changes": sorted(changes)}
        write_audit(conn, actor=actor, action="customer.update", now=now, detail=detail)
    return customer_detail(conn, customer_id)


def delete_customer(conn: Connection, ref: str, *, actor: str, now: datetime) -> str:
    """Delete the customer and everything it owns: lists, campaigns, messages, tokens."""
    customer_id = refs.customer_id(conn, ref)
    detail = customer_detail(conn, customer_id)
    # Campaigns hold their lists (RESTRICT), so children go first, in order.
    for model in (Message, Campaign, MailingList, Suppression, ApiToken):
        t = table(model)
        conn.execute(delete(t).where(t.c.customer_id == customer_id))
    conn.execute(delete(table(Customer)).where(Customer.id == customer_id))
    write_audit(
        conn, actor=actor, action="customer.delete", now=now, detail={"customer": detail.name}
    )
    return detail.uid


def list_region_rules(conn: Connection) -> list[RegionRuleDetail]:
    rows = conn.execute(
        select(RegionRule.region, Plan.uid, Plan.name)
        .join(Plan, Plan.id == RegionRule.plan_id)
        .order_by(RegionRule.region)
    )
    return [RegionRuleDetail(region, Ref(uid, name)) for region, uid, name in rows]


def get_region_rule(conn: Connection, region: str) -> RegionRuleDetail:
    for rule in list_region_rules(conn):
        if rule.region == region:
            return rule
    raise NotFoundError(f"no region rule for {region!r}")


def put_region_rule(
    conn: Connection, region: str, *, plan: str, actor: str, now: datetime
) -> RegionRuleDetail:
    """Map customers tagged ``region`` to ``plan``; setting the same rule twice changes nothing."""
    region = check_name("region", region, 64)
    try:
        plan_id = refs.plan_id(conn, plan)
    except NotFoundError as exc:
        raise FieldError([("plan", str(exc))]) from None
    T = table(RegionRule)
    current = conn.execute(select(T.c.plan_id).where(T.c.region == region)).scalar()
    if current is None:
        conn.execute(T.insert().values(region=region, plan_id=plan_id))
    elif current != plan_id:
        conn.execute(update(T).where(T.c.region == region).values(plan_id=plan_id))
    if current != plan_id:
        detail = {"region": region, "plan": plan}
        write_audit(conn, actor=actor, action="region_rule.put", now=now, detail=detail)
    return get_region_rule(conn, region)


def delete_region_rule(conn: Connection, region: str, *, actor: str, now: datetime) -> str:
    get_region_rule(conn, region)
    conn.execute(delete(table(RegionRule)).where(RegionRule.region == region))
    write_audit(conn, actor=actor, action="region_rule.delete", now=now, detail={"region": region})
    return region


def plan_servers(conn: Connection, customer_id: int) -> list[str]:
    """Names of the active servers this customer's mail may go through; nothing else about them."""
    plan_id = effective_plan_id(conn, customer_id)
    if plan_id is None:
        return []
    names = conn.execute(
        select(SendingServer.name)
        .join(PlanServer, PlanServer.server_id == SendingServer.id)
        .where(PlanServer.plan_id == plan_id, SendingServer.status == ServerStatus.ACTIVE)
        .order_by(SendingServer.name)
    )
    return list(names.scalars())
