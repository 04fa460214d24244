"""``sendpool retention run``: counts per table, a dry run that deletes nothing, bad input refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from sendpool.core.states import MessageStatus
from sendpool.store.tables import AuditEntry
from tests.store.test_retention import add_events, add_messages, counts
from tests.support.cli_env import CliEnv
from tests.support.snapshots import db_snapshot

NOW = datetime.now(UTC)


def _seed(cli: CliEnv) -> None:
    def world(conn: Connection) -> None:
        add_messages(conn, MessageStatus.SENT, NOW - timedelta(days=45), 12)
        add_messages(conn, MessageStatus.FAILED, NOW - timedelta(days=10), 5)
        add_messages(conn, MessageStatus.DEFERRED, NOW - timedelta(days=45), 3)
        add_events(conn, NOW - timedelta(days=120), 4)

    with cli.open() as rt:
        rt.db.transaction(world)


def _counts(cli: CliEnv) -> dict[str, int]:
    with cli.open() as rt:
        return rt.db.transaction(counts)


def test_a_dry_run_shows_what_would_go_and_deletes_nothing(cli: CliEnv) -> None:
    _seed(cli.wide())
    with cli.open() as rt:
        before = db_snapshot(rt)
    result = cli.invoke(["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "messages: would delete 12 " in result.output
    assert "delivery_events: would delete 4 " in result.output
    assert "would delete 16 row(s)" in result.output and "nothing changed" in result.output
    with cli.open() as rt:
        assert db_snapshot(rt) == before


def test_a_run_deletes_settled_old_rows_and_audits_them_as_json(cli: CliEnv) -> None:
    _seed(cli)
    result = cli.invoke(["retention", "run", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["dry_run"] is False and figures["rows"] == 16
    assert figures["tables"]["messages"]["rows"] == 12
    assert figures["tables"]["messages"]["days"] == 30
    left = _counts(cli)
    assert left["messages"] == 5 + 3 and left["delivery_events"] == 0

    def audited(conn: Connection) -> list[tuple[str, str]]:
        return [(a, who) for a, who in conn.execute(select(AuditEntry.action, AuditEntry.actor))]

    with cli.open() as rt:
        assert rt.db.transaction(audited) == [("retention.run", "cli")]


def test_days_for_one_run_override_the_setting(cli: CliEnv) -> None:
    _seed(cli)
    result = cli.invoke(["retention", "run", "--days", "7", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tables"]["messages"]["rows"] == 12 + 5
    assert _counts(cli)["messages"] == 3  # the deferred ones, pending, stay


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--days", "-1"], "retention_days"),
        (["--days", "1"], "retention_days: 1 day(s) is too short"),
        (["--days", "999999"], "retention_days"),
        (["--days", "ten"], "Invalid value for '--days'"),
        (["--batch-size", "0"], "retention_batch_size"),
        (["--batch-size", "100000000"], "retention_batch_size"),
        (["--days"], "requires an argument"),
        (["--since", "3"], "No such option"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(cli: CliEnv, args: list[str], said: str) -> None:
    _seed(cli.wide())
    with cli.open() as rt:
        before = db_snapshot(rt)
    result = cli.invoke(["retention", "run", *args])
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split()), result.output
    with cli.open() as rt:
        assert db_snapshot(rt) == before


def test_a_bad_setting_in_the_environment_is_refused_by_name(cli: CliEnv) -> None:
    _seed(cli)
    cli.setenv("SENDPOOL_EVENT_RETENTION_DAYS", "3")
    result = cli.invoke(["retention", "run"])
    assert result.exit_code == 2
    assert "event_retention_days: 3 day(s) is too short" in " ".join(result.output.split())
    cli.setenv("SENDPOOL_EVENT_RETENTION_DAYS", "0")
    assert _counts(cli)["messages"] == 20


def test_everything_kept_says_so(cli: CliEnv) -> None:
    _seed(cli)
    for name in ("RETENTION_DAYS", "EVENT_RETENTION_DAYS", "AUDIT_RETENTION_DAYS"):
        cli.setenv(f"SENDPOOL_{name}", "0")
    result = cli.invoke(["retention", "run"])
    assert result.exit_code == 0 and "everything is kept" in result.output
    assert _counts(cli)["messages"] == 20


def test_no_database_here_is_an_error_not_a_new_file(cli: CliEnv) -> None:
    cli.setenv("SENDPOOL_DATABASE_URL", f"sqlite:///{cli.db.parent}/elsewhere.db")
    result = cli.invoke(["retention", "run", "--dry-run"])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not (cli.db.parent / "elsewhere.db").exists()
