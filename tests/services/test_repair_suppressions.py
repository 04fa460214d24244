"""``sendpool repair suppressions``: lift what a relay's refusal of the sender suppressed, only that.

The reasons are written the way the recorder writes them: an outcome's
``describe()``, here of replies a relay and a receiver really send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.config import Settings
from sendpool.core.outcomes import Stage, smtp_outcome
from sendpool.runtime import Runtime
from sendpool.services.operations.audit import list_audit
from sendpool.services.operations.repair import ACTION, repair_suppressions
from sendpool.store.tables import Customer, Suppression
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server
from tests.support.services import PgDatabases
from tests.support.settings import make_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RELAY_DENIED = smtp_outcome(Stage.RCPT, 554, "5.7.1 <ann@example.org>: Relay access denied")
POLICY = smtp_outcome(
    Stage.RCPT, 554, "5.7.1 <cat@example.org>: Recipient address rejected: Policy rejection"
)
UNKNOWN_USER = smtp_outcome(
    Stage.RCPT, 550, "5.1.1 <bob@example.org>: Recipient address rejected: User unknown"
)
VENDOR_INACTIVE = "rcpt: 422 ErrorCode 406: You tried to send to a recipient marked inactive"


def opened(settings: Settings) -> Runtime:
    return Runtime.open(settings)


def seed(rt: Runtime) -> None:
    apply(
        rt,
        {
            "servers": [smtp_server("relay", 2525)],
            "plans": [{"name": "P", "servers": ["relay"]}],
            "customers": [{"name": "acme", "plan": "P"}, {"name": "globex", "plan": "P"}],
        },
    )

    def insert(conn: Any) -> None:
        ids = dict(conn.execute(select(Customer.name, Customer.id)).all())
        rows = [
            (ids["acme"], "ann@example.org", RELAY_DENIED.describe()),
            (ids["acme"], "bob@example.org", UNKNOWN_USER.describe()),
            (ids["globex"], "cat@example.org", POLICY.describe()),
            (ids["globex"], "dan@example.org", VENDOR_INACTIVE),
        ]
        conn.execute(
            Suppression.__table__.insert(),
            [
                {"customer_id": c, "email": e, "reason": r, "server_id": 1, "created_at": NOW}
                for c, e, r in rows
            ],
        )

    rt.db.transaction(insert)


def suppressed(rt: Runtime) -> list[str]:
    return rt.db.transaction(
        lambda c: list(c.execute(select(Suppression.email).order_by(Suppression.email)).scalars())
    )


def audits(rt: Runtime) -> list[dict[str, Any]]:
    return [a.detail for a in rt.db.transaction(list_audit, action=ACTION)]


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    seed(runtime)
    return runtime


def test_the_reasons_are_what_the_recorder_wrote() -> None:
    assert RELAY_DENIED.describe() == "rcpt: 554 5.7.1 <ann@example.org>: Relay access denied"
    assert UNKNOWN_USER.suppresses_recipient


def test_lifts_only_refusals_of_the_sender_and_audits_the_count(rt: Runtime) -> None:
    run = rt.db.transaction(repair_suppressions, now=NOW, dry_run=False, actor="test")
    assert (run.examined, run.lifted) == (4, 2)
    assert run.lifted_by_customer == {"acme": 1, "globex": 1}
    assert suppressed(rt) == ["bob@example.org", "dan@example.org"], "hard bounces stand"
    assert audits(rt) == [{"lifted": 2, "examined": 4, "by_customer": {"acme": 1, "globex": 1}}]


def test_a_second_run_lifts_nothing(rt: Runtime) -> None:
    rt.db.transaction(repair_suppressions, now=NOW, dry_run=False, actor="test")
    again = rt.db.transaction(repair_suppressions, now=NOW, dry_run=False, actor="test")
    assert (again.examined, again.lifted, again.lifted_by_customer) == (2, 0, {})
    assert suppressed(rt) == ["bob@example.org", "dan@example.org"]
    assert [a["lifted"] for a in audits(rt)] == [0, 2]  # newest first


def test_a_dry_run_changes_nothing(rt: Runtime) -> None:
    run = rt.db.transaction(repair_suppressions, now=NOW, dry_run=True, actor="test")
    assert (run.dry_run, run.lifted) == (True, 2)
    assert len(suppressed(rt)) == 4
    assert audits(rt) == []


def test_the_command_prints_per_customer_and_is_idempotent(cli: CliEnv) -> None:
    with opened(cli.settings) as rt:
        seed(rt)
    dry = cli.invoke(["repair", "suppressions", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "acme: would lift 1" in dry.output and "globex: would lift 1" in dry.output
    assert "would lift 2 of 4 suppression(s); dry run: nothing changed" in dry.output
    with opened(cli.settings) as rt:
        assert len(suppressed(rt)) == 4 and audits(rt) == []
    done = cli.invoke(["repair", "suppressions"])
    assert done.exit_code == 0, done.output
    assert "acme: lifted 1" in done.output and "lifted 2 of 4 suppression(s)" in done.output
    second = cli.invoke(["repair", "suppressions"])
    assert second.exit_code == 0, second.output
    assert "lifted 0 of 2 suppression(s)" in second.output
    with opened(cli.settings) as rt:
        assert suppressed(rt) == ["bob@example.org", "dan@example.org"]
        assert [a["lifted"] for a in audits(rt)] == [0, 2]


@pytest.mark.services
def test_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The read is streamed there; the deletes must not be (a DELETE is no cursor)."""
    dbs = PgDatabases(pg_url)
    url = dbs.create()
    try:
        with Runtime.open(make_settings(tmp_path, database_url=url)) as rt:
            seed(rt)
            run = rt.db.transaction(repair_suppressions, now=NOW, dry_run=False, actor="test")
            assert run.lifted_by_customer == {"acme": 1, "globex": 1}
            assert suppressed(rt) == ["bob@example.org", "dan@example.org"]
    finally:
        dbs.drop(url)
        dbs.close()
