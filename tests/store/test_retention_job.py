"""Retention's settings refuse bad values by name; serve's daily job runs once a slot and audits."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sendpool.config import Settings
from sendpool.core.states import MessageStatus
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler
from sendpool.services.operations.retention import ACTOR, RUN_ACTION, START_ACTION
from sendpool.store.tables import AuditEntry
from tests.store.test_retention import OLD, add_messages, counts
from tests.support.settings import make_settings

NOW = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "named", "said"),
    [
        ({"retention_days": -1}, "retention_days", "greater than or equal to 0"),
        ({"retention_days": 1}, "retention_days", "at least 2"),
        ({"retention_days": 100_000}, "retention_days", "less than or equal to 3650"),
        ({"event_retention_days": -5}, "event_retention_days", "greater than or equal"),
        ({"event_retention_days": 3}, "event_retention_days", "at least 7 (soft_bounce_days"),
        (
            {"event_retention_days": 20, "soft_bounce_days": 30},
            "event_retention_days",
            "at least 30",
        ),
        ({"audit_retention_days": 1}, "audit_retention_days", "at least 2"),
        ({"audit_retention_days": 99_999}, "audit_retention_days", "less than or equal"),
        ({"retention_batch_size": 0}, "retention_batch_size", "greater than or equal to 100"),
        ({"retention_batch_size": 10**9}, "retention_batch_size", "less than or equal"),
        ({"retention_at": "25:00"}, "retention_at", "time"),
        ({"retention_days": "thirty"}, "retention_days", "integer"),
    ],
)
def test_bad_retention_settings_are_refused_by_name(
    tmp_path: Path, values: dict[str, object], named: str, said: str
) -> None:
    with pytest.raises(ValueError) as caught:
        make_settings(tmp_path, **values)
    assert named in str(caught.value) and said in str(caught.value), str(caught.value)


def test_retention_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDPOOL_RETENTION_DAYS", "0")
    monkeypatch.setenv("SENDPOOL_EVENT_RETENTION_DAYS", "400")
    monkeypatch.setenv("SENDPOOL_RETENTION_AT", "02:15")
    s = Settings()
    assert (s.retention_days, s.event_retention_days, s.audit_retention_days) == (0, 400, 0)
    assert s.retention_at == time(2, 15) and s.retention_batch_size == 5000
    monkeypatch.setenv("SENDPOOL_RETENTION_DAYS", "-3")
    with pytest.raises(ValueError, match="retention_days"):
        Settings()


def audit(rt: Runtime) -> list[tuple[str, str, dict[str, object]]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail)
            .where(AuditEntry.action.startswith("retention."))
            .order_by(AuditEntry.id)
        ).all()
    )
    return [(a, who, dict(d)) for a, who, d in rows]


async def test_the_daily_job_runs_once_per_slot_and_audits_its_figures(runtime: Runtime) -> None:
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.SENT, OLD, 30))
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.QUEUED, OLD, 4))
    clock = [NOW.replace(hour=3)]  # before today's 04:00 slot: yesterday's slot is due
    scheduler = Scheduler(runtime.db, runtime.settings, clock=lambda: clock[0])
    await scheduler.run_due_jobs()
    assert runtime.db.transaction(counts)["messages"] == 4  # settled old ones went, queued stay
    entries = audit(runtime)
    assert [(a, who) for a, who, _ in entries] == [(START_ACTION, ACTOR), (RUN_ACTION, ACTOR)]
    figures = entries[1][2]
    assert figures["rows"] == 30 and figures["dry_run"] is False
    assert figures["tables"]["messages"]["rows"] == 30  # type: ignore[index]
    assert set(figures["tables"]) == {  # type: ignore[arg-type]
        "messages",
        "delivery_events",
        "webhook_unmatched",
        "dispatch_skips",
    }

    # The same slot again (a second tick, a second serve): nothing runs.
    clock[0] = NOW.replace(hour=3, minute=59)
    await scheduler.run_due_jobs()
    assert len(audit(runtime)) == 2
    # Today's slot: it runs again, and finds nothing more.
    clock[0] = NOW + timedelta(minutes=1)
    await scheduler.run_due_jobs()
    entries = audit(runtime)
    assert [a for a, _, _ in entries] == [START_ACTION, RUN_ACTION] * 2
    assert entries[-1][2]["rows"] == 0


async def test_the_daily_job_does_nothing_when_everything_is_kept(runtime: Runtime) -> None:
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.SENT, OLD, 5))
    keep = runtime.settings.model_copy(
        update={"retention_days": 0, "event_retention_days": 0, "audit_retention_days": 0}
    )
    await Scheduler(runtime.db, keep, clock=lambda: NOW).run_due_jobs()
    assert runtime.db.transaction(counts)["messages"] == 5
    assert audit(runtime) == []
