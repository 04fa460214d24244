"""Sending servers: look one up, check its connection, send it a test email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sqlalchemy import Connection, select, update

from sendpool.campaigns.addresses import normalise_address
from sendpool.campaigns.render import CampaignTemplate
from sendpool.core.outcomes import Outcome
from sendpool.errors import InputError, NotFoundError
from sendpool.pipeline.pool import spec_of
from sendpool.secretbox import SecretBox
from sendpool.store.catalog import server_row
from sendpool.store.records import ServerRow
from sendpool.store.tables import SendingServer, table
from sendpool.store.types import new_uid
from sendpool.transports.base import Health
from sendpool.transports.registry import build_transport


def find_server(conn: Connection, ref: str, box: SecretBox) -> ServerRow:
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        s = session.scalars(
            select(SendingServer).where((SendingServer.uid == ref) | (SendingServer.name == ref))
        ).first()
        if s is None:
            raise NotFoundError(
                f"unknown sending server {ref!r}; `sendpool servers list` shows them"
            )
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
    conn.execute(
        update(T)
        .where(T.c.id == server_id)
        .values(
            health="healthy" if health.ok else "degraded",
            health_checked_at=now,
            health_error=None if health.ok else health.detail,
            next_check_at=now + timedelta(seconds=interval),
        )
    )


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
