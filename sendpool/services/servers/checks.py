"""Check a server's connection, or send it a test email, on behalf of an operator.

A connection check is recorded as the server's health, as the health checker
would record it; a test email is sent outside the pool's quotas and log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sqlalchemy import Connection, select, update

from sendpool.content.addresses import normalise_address
from sendpool.content.render import CampaignTemplate
from sendpool.core.outcomes import Outcome, OutcomeKind
from sendpool.core.states import ServerHealth
from sendpool.errors import InputError
from sendpool.pipeline.health import learned_smtputf8, learned_vendor_limit
from sendpool.pipeline.pool import spec_of
from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.errors import FieldError, checked
from sendpool.services.messages.waiting import capacity_added
from sendpool.store.catalog import server_row
from sendpool.store.database import Database
from sendpool.store.records import ServerRow
from sendpool.store.tables import SendingServer, table
from sendpool.store.types import new_uid
from sendpool.transports.base import Health
from sendpool.transports.registry import build_transport


def find_server(conn: Connection, ref: str, box: SecretBox) -> ServerRow:
    """The server named by uid or name, as the workers see it (for checks and test emails)."""
    from sqlalchemy.orm import Session

    server_id = refs.server_id(conn, ref)
    with Session(bind=conn) as session:
        s = session.get_one(SendingServer, server_id)
        return server_row(conn, s, box, datetime.now(UTC).date())


def list_servers(conn: Connection, box: SecretBox) -> list[ServerRow]:
    from sqlalchemy.orm import Session

    today = datetime.now(UTC).date()
    with Session(bind=conn) as session:
        rows = session.scalars(select(SendingServer).order_by(SendingServer.name)).all()
        return [server_row(conn, s, box, today) for s in rows]


def record_check(conn: Connection, server_id: int, health: Health, interval: float) -> None:
    now = datetime.now(UTC)
    T = table(SendingServer)
    learned = learned_smtputf8(health)  # as the health checker records it
    vendor = learned_vendor_limit(health)
    recovering = (
        health.ok
        and conn.execute(select(T.c.health).where(T.c.id == server_id)).scalar()
        == ServerHealth.DEGRADED
    )
    conn.execute(
        update(T)
        .where(T.c.id == server_id)
        .values(
            health=ServerHealth.HEALTHY if health.ok else ServerHealth.DEGRADED,
            health_checked_at=now,
            health_error=None if health.ok else health.detail,
            next_check_at=now + timedelta(seconds=interval),
            **({} if learned is None else {"smtputf8": learned}),
            **({} if vendor is None else {"vendor_daily_limit": vendor}),
        )
    )
    if recovering:
        capacity_added(conn, servers=[server_id], now=now)  # its plans' waiting mail may go


async def check_server(row: ServerRow, timeout: float = 30.0) -> Health:
    transport = build_transport(spec_of(row, timeout))
    try:
        return await transport.check()
    finally:
        await transport.close()


async def send_test_email(
    row: ServerRow, to: str, from_email: str | None, timeout: float = 30.0
) -> Outcome:
    recipient = normalise_address(to)
    sender = from_email or row.default_from_email
    if not sender:
        raise InputError("the server has no default_from_email; pass a sender address")
    template = CampaignTemplate(
        subject=f"sendpool test email via {row.name}",
        from_email=normalise_address(sender),
        text_body=(
            f"This is a test email sent by sendpool through the sending server {row.name} "
            f"({row.type}).\n"
        ),
    )
    uid = new_uid()
    message = template.render(
        uid=uid, recipient=recipient, fields={}, date=format_datetime(datetime.now(UTC))
    )
    transport = build_transport(spec_of(row, timeout))
    try:
        return await transport.send(message)
    finally:
        await transport.close()


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str
    facts: dict[str, str]
    health: str


@dataclass(frozen=True, slots=True)
class TestEmailResult:
    accepted: bool
    outcome: str
    detail: str
    remote_id: str | None


async def test_connection(
    db: Database, box: SecretBox, ref: str, *, timeout: float, interval: float
) -> CheckResult:
    row = await db.run(find_server, ref, box)
    try:
        health = await asyncio.wait_for(check_server(row, timeout), timeout + 5)
    except TimeoutError:
        health = Health(False, f"no answer within {timeout + 5:.0f}s")
    await db.run(record_check, row.id, health, interval)
    facts = {str(k): str(v) for k, v in health.facts.items()}
    state = ServerHealth.HEALTHY if health.ok else ServerHealth.DEGRADED
    return CheckResult(health.ok, health.detail, facts, state)


async def test_email(
    db: Database, box: SecretBox, ref: str, *, to: str, from_email: str | None, timeout: float
) -> TestEmailResult:
    row = await db.run(find_server, ref, box)
    checked("to", normalise_address, to)
    if from_email is not None:
        checked("from_email", normalise_address, from_email)
    elif not row.default_from_email:
        raise FieldError([("from_email", "the server has no default_from_email; give one")])
    outcome = await send_test_email(row, to, from_email, timeout)
    return TestEmailResult(
        accepted=outcome.kind is OutcomeKind.ACCEPTED,
        outcome=outcome.kind.value,
        detail=outcome.describe(),
        remote_id=outcome.remote_id,
    )
