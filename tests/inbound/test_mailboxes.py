"""The bounce and FBL mailboxes read from a real Dovecot: reports moved, other mail untouched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sendpool.runtime import Runtime
from sendpool.services.inbound.handle import Envelope
from sendpool.services.inbound.mailboxes import MailboxPoller, MailboxStatus, enabled_mailboxes
from sendpool.services.servers import commands as server_commands
from tests.inbound.recorder import Recorder
from tests.inbound.samples import arf, dsn, human
from tests.support.dovecot import Dovecot, running_dovecot

pytestmark = pytest.mark.slow  # each test starts a Dovecot

USER, PASSWORD = "bounces", "s3cret-bounces"
DONE = "sendpool-processed"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot({USER: PASSWORD, "fbl": "fbl-pass"}) as instance:
        yield instance


@pytest.fixture
def box(dovecot: Dovecot) -> Iterator[Dovecot]:
    """The module's Dovecot, with the test user's folders emptied before each test."""
    for user in (USER, "fbl"):
        with dovecot.client(user) as conn:
            for folder in ("INBOX", DONE):
                typ, count = conn.select(f'"{folder}"')
                if typ == "OK" and count[0] != b"0":
                    conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    conn.expunge()
    yield dovecot


def mailbox(dovecot: Dovecot, **changes: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "protocol": "imap",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "encryption": "none",
        "username": USER,
        "password": PASSWORD,
        "mailbox": "INBOX",
        **changes,
    }


def add_server(rt: Runtime, name: str, **handlers: dict[str, Any]) -> None:
    fields = {"name": name, "type": "smtp", "host": "127.0.0.1", "port": 9,
              "encryption": "none", "sending_limit": 100, **handlers}  # fmt: skip
    now = datetime.now(UTC)
    rt.db.transaction(
        lambda conn: server_commands.create_server(
            conn, rt.box, fields=fields, actor="test", now=now
        )
    )


def poller(rt: Runtime, handler: Recorder, **options: Any) -> MailboxPoller:
    async def configs() -> Any:
        return await rt.db.run(enabled_mailboxes, rt.box)

    return MailboxPoller(configs, handler, processed_folder=DONE, **options)


def flags_and_bodies(dovecot: Dovecot, folder: str = "INBOX") -> list[tuple[set[str], bytes]]:
    """The folder's messages and their flags, but \\Recent (it says which session came first)."""
    return [
        ({f for f in flags if f != r"\Recent"}, raw)
        for flags, raw in dovecot.messages(USER, folder)
    ]


async def test_reports_are_moved_and_human_mail_stays_unseen(
    runtime: Runtime, box: Dovecot, recorder: Recorder
) -> None:
    for raw in (dsn(), human(), arf()):
        box.append(USER, raw)
    add_server(runtime, "relay-a", bounce_handler=mailbox(box))
    p = poller(runtime, recorder)
    try:
        [status] = await p.poll()
        assert status == MailboxStatus("relay-a/bounce", None, processed=2, left=1)
        assert recorder.raws == [dsn(), human(), arf()]
        assert recorder.calls[0][1] == Envelope(None, (USER,), "imap:relay-a/bounce")
        assert flags_and_bodies(box) == [(set(), human())]  # still there, still unseen
        assert sorted(raw for _, raw in flags_and_bodies(box, DONE)) == sorted([dsn(), arf()])
        assert DONE in box.folders(USER)
        # The next poll hands nothing over again: the human mail was looked at already.
        box.append(USER, dsn("late@example.net"))
        [status] = await p.poll()
        assert status.processed == 1 and status.left == 0
        assert len(recorder.calls) == 4
    finally:
        await p.close()


async def test_bounce_and_fbl_mailboxes_are_read_by_their_own_names(
    runtime: Runtime, box: Dovecot, recorder: Recorder
) -> None:
    box.append(USER, dsn())
    box.append("fbl", arf())
    fbl = mailbox(box, username="fbl", password="fbl-pass")
    add_server(runtime, "relay-b", bounce_handler=mailbox(box), fbl_handler=fbl)
    add_server(runtime, "relay-off", bounce_handler=mailbox(box, enabled=False))
    p = poller(runtime, recorder)
    try:
        statuses = await p.poll()
    finally:
        await p.close()
    assert sorted(s.mailbox for s in statuses) == ["relay-b/bounce", "relay-b/fbl"]
    sources = sorted(env.source for _, env, _ in recorder.calls)
    assert sources == ["imap:relay-b/bounce", "imap:relay-b/fbl"]
    assert box.messages("fbl") == []


async def test_a_dovecot_restart_mid_poll_is_survived(
    runtime: Runtime, box: Dovecot, recorder: Recorder
) -> None:
    for raw in (dsn("one@example.net"), dsn("two@example.net"), human()):
        box.append(USER, raw)
    add_server(runtime, "relay-c", bounce_handler=mailbox(box))
    restarted: list[bool] = []

    async def restart_once(raw: bytes) -> None:
        if not restarted:
            restarted.append(True)
            await asyncio.to_thread(box.restart)  # drops the poller's connection under it

    recorder.before = restart_once
    p = poller(runtime, recorder)
    try:
        [first] = await p.poll()
        assert first.error is not None and "dropped" in first.error
        assert first.processed == 0
        [second] = await p.poll()  # a new connection; the first report is handed over again
        assert second == MailboxStatus("relay-c/bounce", None, processed=2, left=1)
        # Between polls too: the kept connection is found dead and replaced.
        box.restart()
        box.append(USER, dsn("three@example.net"))
        [third] = await p.poll()
        assert third.ok and third.processed == 1
    finally:
        await p.close()
    assert recorder.raws.count(dsn("one@example.net")) == 2  # the handler deduplicates
    assert flags_and_bodies(box) == [(set(), human())]
    assert len(flags_and_bodies(box, DONE)) == 3


async def test_a_wrong_password_is_reported_retried_and_logged_once(
    runtime: Runtime, box: Dovecot, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    box.append(USER, dsn())
    add_server(runtime, "relay-d", bounce_handler=mailbox(box, password="wrong"))
    p = poller(runtime, recorder)
    try:
        first, second = (await p.poll())[0], (await p.poll())[0]
        for status in (first, second):
            assert status.error is not None
            assert "refused the login of bounces" in status.error
            assert "AUTHENTICATIONFAILED" in status.error
        logged = [r for r in caplog.records if "refused the login" in r.getMessage()]
        assert len(logged) == 1 and logged[0].levelno == logging.ERROR
        assert recorder.calls == []
        assert [raw for _, raw in flags_and_bodies(box)] == [dsn()]

        # The operator fixes the password on the server's page: the next poll reads.
        def fix(conn: Any) -> None:
            server_commands.update_server(
                conn, runtime.box, "relay-d", changes={"bounce_handler": {"password": PASSWORD}},
                actor="test", now=datetime.now(UTC),
            )  # fmt: skip

        runtime.db.transaction(fix)
        [fixed] = await p.poll()
    finally:
        await p.close()
    assert fixed.ok and fixed.processed == 1
    assert "relay-d/bounce: read again" in caplog.text


async def test_an_oversized_message_is_left_unread_with_one_log_line(
    runtime: Runtime, box: Dovecot, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    big = dsn() + b"x" * 20_000
    box.append(USER, big)
    box.append(USER, dsn("small@example.net"))
    add_server(runtime, "relay-e", bounce_handler=mailbox(box))
    p = poller(runtime, recorder, max_bytes=10_000)
    try:
        [first] = await p.poll()
        [second] = await p.poll()
    finally:
        await p.close()
    assert first.oversized == 1 and first.processed == 1
    assert second.oversized == 0  # not looked at again
    assert recorder.raws == [dsn("small@example.net")]
    assert flags_and_bodies(box) == [(set(), big)]
    assert len([r for r in caplog.records if "over the 10000-byte limit" in r.getMessage()]) == 1


async def test_a_failing_handler_leaves_the_message_for_the_next_poll(
    runtime: Runtime, box: Dovecot, recorder: Recorder
) -> None:
    box.append(USER, dsn())
    add_server(runtime, "relay-f", bounce_handler=mailbox(box))
    failures: list[int] = []

    async def fail_once(raw: bytes) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("database is locked")

    recorder.before = fail_once
    p = poller(runtime, recorder)
    try:
        [first] = await p.poll()
        assert first.failed == 1 and first.ok
        assert flags_and_bodies(box) == [(set(), dsn())]
        [second] = await p.poll()
    finally:
        await p.close()
    assert second.processed == 1
    assert flags_and_bodies(box) == []


async def test_pop3_and_a_missing_folder_are_reported_not_raised(
    runtime: Runtime, box: Dovecot, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    add_server(runtime, "relay-g", bounce_handler=mailbox(box, protocol="pop3", port=110))
    add_server(runtime, "relay-h", bounce_handler=mailbox(box, mailbox="Bounces"))
    p = poller(runtime, recorder)
    try:
        statuses = {s.mailbox: s for s in await p.poll()}
        await p.poll()
    finally:
        await p.close()
    assert "POP3 is not supported yet" in (statuses["relay-g/bounce"].error or "")
    assert "SELECT" in (statuses["relay-h/bounce"].error or "")
    assert len([r for r in caplog.records if "POP3" in r.getMessage()]) == 1


@pytest.fixture
def no_move_dovecot() -> Iterator[Dovecot]:
    """A Dovecot that offers UIDPLUS but not MOVE, as some older servers do."""
    with running_dovecot({USER: PASSWORD}, extra="imap_capability = IMAP4rev1 UIDPLUS") as d:
        yield d


async def test_without_move_it_copies_and_expunges_only_that_message(
    runtime: Runtime, no_move_dovecot: Dovecot, recorder: Recorder
) -> None:
    box = no_move_dovecot
    box.append(USER, dsn())
    box.append(USER, human(), flags=r"(\Deleted)")  # someone else's: must survive
    add_server(runtime, "relay-i", bounce_handler=mailbox(box))
    p = poller(runtime, recorder)
    try:
        [status] = await p.poll()
    finally:
        await p.close()
    assert status.ok and status.processed == 1
    assert [raw for _, raw in flags_and_bodies(box)] == [human()]
    assert [raw for _, raw in flags_and_bodies(box, DONE)] == [dsn()]
