"""Check a server's connection, or send it a test email, on behalf of an operator.

A connection check is recorded as the server's health, as the health checker
would record it; a test email is sent outside the pool's quotas and log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sendpool.campaigns.addresses import normalise_address
from sendpool.core.outcomes import OutcomeKind
from sendpool.secretbox import SecretBox
from sendpool.services.errors import FieldError, checked
from sendpool.services.servers import check_server, find_server, record_check, send_test_email
from sendpool.store.database import Database
from sendpool.transports.base import Health


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
    return CheckResult(health.ok, health.detail, facts, "healthy" if health.ok else "degraded")


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
