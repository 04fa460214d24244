"""Sending servers as an operator reads them: every setting but the secrets, and the plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.servers.fields import full_warmup
from sendpool.store.tables import Plan, PlanServer, SendingServer, table


@dataclass(frozen=True, slots=True)
class Ref:
    """A plan, server or customer named by uid and name."""

    uid: str
    name: str


@dataclass(frozen=True, slots=True)
class ServerDetail:
    uid: str
    name: str
    type: str
    status: str
    health: str
    health_error: str | None
    health_checked_at: datetime | None
    sending_limit: int
    hourly_limit: int | None
    rate_per_second: float | None
    max_connections: int
    max_messages_per_connection: int | None
    timezone: str
    default_from_email: str | None
    bounce_domain: str | None
    warmup: dict[str, Any] | None
    plans: list[Ref]
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    settings: dict[str, Any]
    secrets_set: list[str]  # which secrets are stored; never their values
    status_reason: str | None = None  # why it is paused (status "paused"), with the figures
    rebalance_ceiling: int | None = None  # rebalancing never raises sending_limit past it
    vendor_daily_limit: int | None = None  # the vendor's own limit (SES Max24HourSend)


def plans_of(conn: Connection, server_id: int) -> list[Ref]:
    rows = conn.execute(
        select(Plan.uid, Plan.name)
        .join(PlanServer, PlanServer.plan_id == Plan.id)
        .where(PlanServer.server_id == server_id)
        .order_by(Plan.name)
    )
    return [Ref(uid, name) for uid, name in rows]


def server_detail(conn: Connection, box: SecretBox, server_id: int) -> ServerDetail:
    T = table(SendingServer)
    s = conn.execute(select(T).where(T.c.id == server_id)).one()
    return ServerDetail(
        uid=s.uid,
        name=s.name,
        type=s.type,
        status=s.status,
        health=s.health,
        health_error=s.health_error,
        health_checked_at=s.health_checked_at,
        sending_limit=s.sending_limit,
        hourly_limit=s.hourly_limit,
        rate_per_second=s.rate_per_second,
        max_connections=s.max_connections,
        max_messages_per_connection=s.max_messages_per_connection,
        timezone=s.timezone,
        default_from_email=s.default_from_email,
        bounce_domain=s.bounce_domain,
        warmup=full_warmup(s.warmup),
        plans=plans_of(conn, s.id),
        last_activity_at=s.last_activity_at,
        created_at=s.created_at,
        updated_at=s.updated_at,
        settings=dict(s.settings or {}),
        secrets_set=sorted(box.open(s.secrets_sealed)),
        status_reason=s.status_reason,
        rebalance_ceiling=s.rebalance_ceiling,
        vendor_daily_limit=s.vendor_daily_limit,
    )


def get_server(conn: Connection, box: SecretBox, ref: str) -> ServerDetail:
    return server_detail(conn, box, refs.server_id(conn, ref))


def list_server_details(conn: Connection, box: SecretBox) -> list[ServerDetail]:
    ids = conn.execute(select(SendingServer.id).order_by(SendingServer.name)).scalars().all()
    return [server_detail(conn, box, int(i)) for i in ids]
