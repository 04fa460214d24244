"""`sendpool campaign run` returns once nothing is due within a minute, and says what waits.

Deferred messages used to keep it running until their last retry, up to the
3-day maximum age; now it returns with a table of what waits, by reason, and
`--wait-all` keeps the old wait for every message to be sent or failed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Connection, event, select, update
from sqlalchemy.exc import OperationalError

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.runtime import Runtime
from sendpool.services.campaigns.report import (
    CampaignReport,
    Wait,
    WaitReason,
    campaign_report,
)
from sendpool.store.db import make_engine
from sendpool.store.tables import Campaign, Message
from tests.support.cli_env import CliEnv
from tests.support.faulty_smtp import Fault, FaultyServer, Moment
from tests.support.scenario import apply, make_campaign, smtp_server

BUSY = "450 4.2.1 mailbox busy, try again later"
DEFERRED = [f"p{i}@example.com" for i in range(3)]


# --- when the command may return ---------------------------------------------------------


def report(status: str = "sending", due_shortly: int = 0, **by_status: int) -> CampaignReport:
    return CampaignReport("c1", "c", status, 10, by_status=by_status, due_shortly=due_shortly)


@pytest.mark.parametrize(
    ("case", "resting", "finished"),
    [
        (report(sent=10), True, True),
        (report(sent=7, failed=3), True, True),
        (report(sent=7, deferred=3), True, False),  # every retry more than a minute away
        (report(sent=7, deferred=3, due_shortly=1), False, False),  # a retry within a minute
        (report(sent=7, queued=3), True, False),  # a server's window, far off
        (report(sent=7, queued=3, due_shortly=3), False, False),  # a rate, a ledger rebuild
        (report(sent=7, sending=3), False, False),  # in flight
        (report("paused", sent=7, queued=3), True, False),  # held until resumed
        (report("paused", sent=7, sending=1, queued=2), False, False),
        (report("launching", sent=4), False, False),
        (report("draft"), False, False),
    ],
)
def test_resting_and_finished(case: CampaignReport, resting: bool, finished: bool) -> None:
    assert (case.resting, case.finished) == (resting, finished)


# --- what the report reads ------------------------------------------------------------------


@pytest.fixture
def campaign(runtime: Runtime) -> tuple[int, str]:
    apply(
        runtime,
        {
            "servers": [smtp_server("relay", 9)],
            "plans": [{"name": "P", "servers": ["relay"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    return make_campaign(runtime, 10)


def place(rt: Runtime, campaign_id: int, rows: Sequence[tuple[str, datetime]]) -> None:
    """Give the campaign's messages, in id order, these (status, due_at)."""

    def write(conn: Connection) -> None:
        ids = conn.execute(
            select(Message.id).where(Message.campaign_id == campaign_id).order_by(Message.id)
        ).scalars()
        for message_id, (status, due) in zip(ids, rows, strict=True):
            values = {"status": status, "due_at": due}
            conn.execute(update(Message).where(Message.id == message_id).values(**values))

    rt.db.transaction(write)


def near(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs(a - b) < timedelta(seconds=1)


def test_the_report_groups_what_waits_by_reason(
    runtime: Runtime, campaign: tuple[int, str]
) -> None:
    campaign_id, uid = campaign
    now = datetime.now(UTC)
    minutes = [now + timedelta(minutes=m) for m in range(121)]
    place(
        runtime,
        campaign_id,
        [
            ("sent", now),
            ("sent", now),
            ("failed", now),
            ("deferred", minutes[5]),
            ("deferred", minutes[10]),
            ("deferred", now + timedelta(seconds=20)),  # a retry within the minute
            ("queued", minutes[120]),
            ("queued", minutes[120]),
            ("queued", now),  # due now
            ("sending", minutes[2]),  # in flight, under its lease
        ],
    )
    r = runtime.db.transaction(campaign_report, uid, now)
    assert r.by_status == {"sent": 2, "failed": 1, "deferred": 3, "queued": 3, "sending": 1}
    assert list(r.waits) == [WaitReason.DEFERRED, WaitReason.WINDOW]
    assert r.waits[WaitReason.DEFERRED].count == 3
    assert near(r.waits[WaitReason.DEFERRED].next_at, now + timedelta(seconds=20))
    assert r.waits[WaitReason.WINDOW].count == 2
    assert near(r.waits[WaitReason.WINDOW].next_at, minutes[120])
    assert r.due_shortly == 2 and not r.resting and not r.finished
    # What the API's progress answer reads, as before.
    assert (r.waiting, r.due_now) == (2, 1) and near(r.next_due_at, minutes[120])
    waiting = r.as_json()["waiting"]
    assert isinstance(waiting, dict)
    assert waiting["deferred"]["count"] == 3
    assert near(datetime.fromisoformat(waiting["deferred"]["next_at"]), now + timedelta(seconds=20))
    assert waiting["paused"] == {"count": 0, "next_at": None}

    # Once nothing is in flight and every wait is more than a minute away, it may return.
    place(
        runtime,
        campaign_id,
        [("sent", now)] * 2
        + [("failed", now)]
        + [("deferred", minutes[5]), ("deferred", minutes[10]), ("deferred", minutes[5])]
        + [("queued", minutes[120])] * 2
        + [("queued", minutes[60]), ("sent", now)],
    )
    r = runtime.db.transaction(campaign_report, uid, now)
    assert r.resting and not r.finished and r.due_shortly == 0
    assert near(r.waits[WaitReason.DEFERRED].next_at, minutes[5])
    assert near(r.waits[WaitReason.WINDOW].next_at, minutes[60])

    # A paused campaign holds everything pending, whatever its due time, until resumed.
    def pause(conn: Connection) -> None:
        conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(status="paused"))

    runtime.db.transaction(pause)
    r = runtime.db.transaction(campaign_report, uid, now)
    assert r.waits == {WaitReason.PAUSED: Wait(6, None)} and r.resting


def test_the_report_reads_the_campaigns_rows_through_its_indexes(
    runtime: Runtime, campaign: tuple[int, str]
) -> None:
    """No query of the report walks the whole messages table (nor a whole index of it)."""
    _, uid = campaign
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(runtime.db.engine, "before_cursor_execute", capture)
    try:
        runtime.db.transaction(campaign_report, uid, datetime.now(UTC))
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", capture)
    on_messages = [(s, p) for s, p in seen if re.search(r"\bmessages\b", s)]
    # Counts by status and server come from the rollups; the messages give only the
    # pending ones still to come: those due later, the earliest queued and deferred.
    assert 1 <= len(on_messages) <= 3

    def plans(conn: Connection) -> list[list[str]]:
        return [
            [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p).all()]
            for s, p in on_messages
        ]

    for plan in runtime.db.transaction(plans):
        on_table = [step for step in plan if re.match(r"(SCAN|SEARCH) messages\b", step)]
        assert on_table and all(
            step.startswith("SEARCH messages USING") and "ix_messages_campaign_status" in step
            for step in on_table
        ), plan


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def cli(cli: CliEnv) -> CliEnv:
    cli.setenv("SENDPOOL_POLL_INTERVAL", "0.02")
    # The first retry comes 5 to 10 minutes after a deferral: well past the minute.
    cli.setenv("SENDPOOL_RETRY_BASE_SECONDS", "600")
    return cli.wide()


def setup_pool(cli: CliEnv, tmp_path: Path, port: int) -> None:
    pool = tmp_path / "pool.toml"
    pool.write_text(
        f'[[servers]]\nname = "relay"\ntype = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
        'encryption = "none"\nsending_limit = 10000\n\n'
        '[[plans]]\nname = "Marketing"\nservers = ["relay"]\n\n'
        '[[customers]]\nname = "acme"\nplan = "Marketing"\nsending_domains = ["example.com"]\n'
    )
    assert cli.invoke(["pool", "apply", str(pool)]).exit_code == 0


def run_args(tmp_path: Path, name: str, *extra: str, n: int = 10) -> list[str]:
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(n)))
    body = tmp_path / "body.txt"
    body.write_text("Hello\n")
    return [
        "campaign", "run", "--customer", "acme", "--csv", str(people), "--subject", "Hi",
        "--from", "news@example.com", "--text", str(body), "--name", name, *extra,
    ]  # fmt: skip


def invoke_within(cli: CliEnv, args: list[str], seconds: float = 120) -> Result:
    """Run the command; fail, rather than hang, if it never returns (as it did before)."""
    done: list[Result] = []
    thread = threading.Thread(target=lambda: done.append(cli.invoke(args)), daemon=True)
    thread.start()
    thread.join(seconds)  # a hang guard, not a speed check
    if not done:
        pytest.fail(f"`sendpool {' '.join(args[:2])}` did not return within {seconds:.0f} s")
    return done[0]


def last_json(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    return data


NEXT_RETRY = re.compile(r"next retry (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC \(in (\d+) min\)")


def test_run_returns_with_deferred_messages_and_says_when_they_retry(
    cli: CliEnv, tmp_path: Path
) -> None:
    with FaultyServer(default=Fault(refuse=dict.fromkeys(DEFERRED, BUSY))) as server:
        setup_pool(cli, tmp_path, server.port)
        result = invoke_within(cli, run_args(tmp_path, "table"))
        assert result.exit_code == 0, result.output  # messages still waiting are no error
        assert server.accepted == 7
        text = " ".join(result.output.split())
        assert "deferred for retry │ 3 │ next retry" in text, result.output
        found = NEXT_RETRY.search(text)
        assert found is not None and 5 <= int(found.group(2)) <= 10, result.output
        uid = re.search(r"sendpool campaign status (\w+)", text)
        assert uid is not None, result.output
        assert "No other worker is running" in text

        as_json = invoke_within(cli, run_args(tmp_path, "json", "--json"))
        assert as_json.exit_code == 0, as_json.output
        summary = last_json(as_json)
    assert summary["by_status"] == {"sent": 7, "deferred": 3}
    assert summary["by_server"] == {"relay": 7}
    assert set(summary) >= {"campaign", "name", "status", "recipients", "by_status", "by_server"}
    waiting = summary["waiting"]
    assert waiting["deferred"]["count"] == 3
    next_at = datetime.fromisoformat(waiting["deferred"]["next_at"])
    assert next_at - datetime.now(UTC) > timedelta(minutes=4)
    assert waiting["window"] == {"count": 0, "next_at": None}
    assert waiting["paused"] == {"count": 0, "next_at": None}

    # `campaign status` shows the same table, and --json the same facts.
    status = cli.invoke(["campaign", "status", uid.group(1)])
    assert status.exit_code == 0
    shown = " ".join(status.output.split())
    assert "deferred for retry │ 3 │ next retry" in shown and "relay" in shown
    later = last_json(cli.invoke(["campaign", "status", summary["campaign"], "--json"]))
    assert later["waiting"] == waiting and later["by_status"] == summary["by_status"]


@pytest.fixture
def fast_forward(cli: CliEnv) -> Iterator[list[int]]:
    """Brings deferred messages' retries forward, a while after they are deferred.

    The while (1.5 s) is six times the command's polling step: a command that
    returned on deferred messages would have returned by then.
    """
    stop = threading.Event()
    moved: list[int] = []
    engine = make_engine(cli.settings.database_url)
    deferred = Message.status == MessageStatus.DEFERRED

    def run() -> None:
        while not stop.wait(0.1):
            try:
                with engine.connect() as conn:
                    if not conn.execute(select(Message.id).where(deferred).limit(1)).first():
                        continue
            except OperationalError:  # the command has not made its tables yet
                continue
            time.sleep(1.5)
            with engine.begin() as conn:
                now = datetime.now(UTC)
                moved.append(
                    conn.execute(update(Message).where(deferred).values(due_at=now)).rowcount
                )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield moved
    finally:
        stop.set()
        thread.join()
        engine.dispose()


def test_wait_all_waits_through_retries(
    cli: CliEnv, tmp_path: Path, fast_forward: list[int]
) -> None:
    first_tries: set[str] = set()

    def busy_once(moment: Moment) -> Fault | None:
        to = moment.recipient
        if moment.stage != "rcpt" or to not in DEFERRED or to in first_tries:
            return None
        first_tries.add(to)
        return Fault(refuse={to: BUSY})

    with FaultyServer(hook=busy_once) as server:
        setup_pool(cli, tmp_path, server.port)
        result = invoke_within(cli, run_args(tmp_path, "all", "--wait-all", "--json"))
        assert result.exit_code == 0, result.output
        assert server.accepted == 10
    assert first_tries == set(DEFERRED) and sum(fast_forward) >= 1
    summary = last_json(result)
    assert summary["by_status"] == {"sent": 10}
    assert {k: v["count"] for k, v in summary["waiting"].items()} == {
        "deferred": 0,
        "window": 0,
        "paused": 0,
    }


def test_wait_all_and_no_wait_together_are_refused_before_anything_is_written(
    cli: CliEnv, tmp_path: Path
) -> None:
    setup_pool(cli, tmp_path, 9)
    result = cli.invoke(run_args(tmp_path, "both", "--wait-all", "--no-wait"))
    assert result.exit_code == 2
    assert "--no-wait and --wait-all contradict each other" in result.output
    with cli.open() as rt:
        campaigns = rt.db.transaction(lambda c: c.execute(select(Campaign.id)).all())
    assert campaigns == []


def test_help_says_when_run_returns_and_what_wait_all_does(cli: CliEnv) -> None:
    text = " ".join(cli.invoke(["campaign", "run", "--help"]).output.split())
    assert "--wait-all" in text
    assert "nothing is due within a minute" in text
    assert "exits 0" in text and "sendpool campaign status UID" in text


def test_status_of_a_paused_campaign_says_it_is_held(cli: CliEnv, tmp_path: Path) -> None:
    setup_pool(cli, tmp_path, 9)
    launched = last_json(cli.invoke(run_args(tmp_path, "paused", "--no-wait", "--json")))

    def pause(conn: Connection) -> None:
        conn.execute(
            update(Campaign)
            .where(Campaign.uid == launched["campaign"])
            .values(status=CampaignStatus.PAUSED)
        )

    with cli.open() as rt:
        rt.db.transaction(pause)
    shown = " ".join(cli.invoke(["campaign", "status", launched["campaign"]]).output.split())
    assert "held: the campaign is paused │ 10 │ until it is resumed" in shown, shown
    assert f"sendpool campaign status {launched['campaign']}" in shown
