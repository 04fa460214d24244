"""The careful rebalancer against a real database: the seed's symptoms, each a test.

The built-in job once moved every declared limit a second after the first
``serve``, from 277 messages; grew an idle server 10 % a day forever; raised a
warming server; and raised an SES server past the account's Max24HourSend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from sendpool.pipeline.health import learned_vendor_limit
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler
from sendpool.services.operations.rebalance import policy_from, rebalance
from sendpool.store.queue import record_sync
from sendpool.store.records import HealthChange, RecordBatch
from sendpool.store.tables import AuditEntry, SendingServer
from sendpool.transports.base import Health
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server
from tests.support.seeding import seed_activity

DECLARED = {"relay-a": 7000, "relay-b": 3000, "warming": 10000, "ses-like": 7000}


def _pool(rt: Runtime, today: datetime) -> None:
    warmup = {
        "start_daily": 500,
        "growth_percent": 50,
        "target_daily": 50000,
        "started_on": (today - timedelta(days=2)).date().isoformat(),
    }
    apply(
        rt,
        {
            "servers": [
                smtp_server("relay-a", 2525, DECLARED["relay-a"]),
                smtp_server("relay-b", 2526, DECLARED["relay-b"]),
                smtp_server("warming", 2527, DECLARED["warming"], warmup=warmup),
                smtp_server("ses-like", 2528, DECLARED["ses-like"]),
            ],
            "plans": [{"name": "P", "servers": list(DECLARED)}],
            "customers": [{"name": "acme", "plan": "P"}],
        },
    )


def _limits(rt: Runtime) -> dict[str, int]:
    rows = rt.db.transaction(
        lambda c: c.execute(select(SendingServer.name, SendingServer.sending_limit)).all()
    )
    return {n: int(v) for n, v in rows}


def _audit(rt: Runtime) -> list[Any]:
    """The rebalancer's own entries (the pool file's apply is audited too)."""
    return rt.db.transaction(
        lambda c: list(
            c.execute(
                select(AuditEntry.action, AuditEntry.detail)
                .where(AuditEntry.action.like("rebalance.%"))
                .order_by(AuditEntry.id)
            ).all()
        )
    )


def _traffic(rt: Runtime, sends: dict[str, int], at: datetime) -> None:
    def seed(conn: Connection) -> None:
        for name, n in sends.items():
            seed_activity(conn, name, sent=n, bounces=0, complaints=0, now=at)

    rt.db.transaction(seed)


async def test_the_first_serve_moves_nothing(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    _pool(runtime, now)
    _traffic(runtime, {"relay-a": 277, "relay-b": 120, "warming": 40}, now - timedelta(seconds=1))
    scheduler = Scheduler(runtime.db, runtime.settings, clock=lambda: now)
    await scheduler.run_due_jobs()
    assert scheduler.runs == 1
    assert _limits(runtime) == DECLARED
    kept = {d["server"]: d["reason"] for a, d in _audit(runtime) if a == "rebalance.keep"}
    assert set(kept) == set(DECLARED)  # every "kept, because ..." is in the log
    assert "h of sends on record; a full day is needed" in kept["relay-a"]
    assert "warming" in kept["warming"]


def test_after_a_full_day_only_a_busy_clean_server_grows_and_never_past_the_vendor(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    _pool(runtime, now)
    ses_id = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.id).where(SendingServer.name == "ses-like")
        ).scalar_one()
    )
    # Its check read the account's Max24HourSend (pipeline/health.py records it).
    check = HealthChange(ses_id, "healthy", now, None, now, checked=True, vendor_daily_limit=7200)
    runtime.db.transaction(record_sync, "checker", RecordBatch(health=[check]), now)
    _traffic(runtime, dict.fromkeys(DECLARED, 10), now - timedelta(hours=30))
    _traffic(
        runtime,
        {"relay-a": 6000, "relay-b": 700, "warming": 1100, "ses-like": 6500},
        now - timedelta(hours=1),
    )
    run = runtime.db.transaction(
        rebalance, policy=policy_from(runtime.settings), now=now, dry_run=False, actor="test"
    )
    assert _limits(runtime) == {
        "relay-a": 7700,  # 86 % of its cap used, 0 % bounces: raised
        "relay-b": 3000,  # idle: 23 % of its cap; it does not grow
        "warming": 10000,  # left to its warm-up
        "ses-like": 7200,  # raised, but held to what SES allows
    }
    why = {d.name: d.decision.reason for d in run.decisions}
    assert "used 23% of its cap 3,000; raised only from 80%" in why["relay-b"]
    assert "held to the vendor's limit 7,200" in why["ses-like"]
    actions = [a for a, _d in _audit(runtime)]
    assert actions.count("rebalance.raise") == 2 and actions.count("rebalance.keep") == 2


def test_the_minimum_volume_is_a_setting(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    _pool(runtime, now)
    _traffic(runtime, {"relay-a": 10}, now - timedelta(hours=30))
    _traffic(runtime, {"relay-a": 400}, now - timedelta(hours=1))
    policy = policy_from(runtime.settings)
    run = runtime.db.transaction(rebalance, policy=policy, now=now, dry_run=True, actor="t")
    a = next(d for d in run.decisions if d.name == "relay-a")
    assert "500 needed" in a.decision.reason
    lower = policy_from(runtime.settings.model_copy(update={"rebalance_min_sent": 100}))
    # 400 of a 7,000 cap is idle anyway: kept, now for that reason.
    run = runtime.db.transaction(rebalance, policy=lower, now=now, dry_run=True, actor="t")
    a = next(d for d in run.decisions if d.name == "relay-a")
    assert "used 6% of its cap" in a.decision.reason
    assert _audit(runtime) == []  # a dry run writes nothing


def test_dry_run_prints_what_it_would_do_and_why(cli: CliEnv) -> None:
    now = datetime.now(UTC)
    with cli.open() as rt:
        _pool(rt, now)
        _traffic(rt, dict.fromkeys(DECLARED, 10), now - timedelta(hours=30))
        _traffic(rt, {"relay-a": 6000, "relay-b": 700}, now - timedelta(hours=1))
    cli.wide()
    out = cli.invoke(["rebalance", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "dry run" in out.output
    assert "7,000 -> 7,700" in out.output
    assert "raised only from 80%" in out.output
    with cli.open() as rt:
        assert _limits(rt) == DECLARED and _audit(rt) == []


def test_the_vendor_limit_is_read_from_a_passing_check_only() -> None:
    assert learned_vendor_limit(Health(True, "", {"Max24HourSend": "7200"})) == 7200
    assert learned_vendor_limit(Health(True, "", {"Max24HourSend": "50000.0"})) == 50000
    assert learned_vendor_limit(Health(False, "", {"Max24HourSend": "7200"})) is None
    assert learned_vendor_limit(Health(True, "", {"Max24HourSend": "0"})) is None  # sandbox
    assert learned_vendor_limit(Health(True, "", {"Max24HourSend": "n/a"})) is None
    assert learned_vendor_limit(Health(True, "", {})) is None
