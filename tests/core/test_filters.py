from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sendpool.core.dispatcher import select
from sendpool.core.filters import SkipCode
from sendpool.core.filters.health import CHECK_GRACE as GRACE
from sendpool.core.filters.health import health_filter
from sendpool.core.filters.plan import plan_filter
from sendpool.core.filters.quota import quota_filter
from sendpool.core.filters.smtputf8 import smtputf8_filter, unsendable
from sendpool.core.filters.warmup import warmup_filter
from sendpool.core.servers import (
    AddressNeed,
    DispatchContext,
    SendClass,
    ServerView,
    Usage,
    send_class_for,
)
from sendpool.core.warmup import WarmupSchedule

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
LOW = DispatchContext(NOW, SendClass.LOW_VOLUME)
BURST = DispatchContext(NOW, SendClass.BURST)


def server(i: int, **kw: object) -> ServerView:
    values: dict[str, object] = {"id": i, "name": f"s{i}", "sending_limit": 1000}
    values.update(kw)
    return ServerView(**values)  # type: ignore[arg-type]


def warming(i: int, **kw: object) -> ServerView:
    schedule = WarmupSchedule(100, 50.0, 10_000, date(2026, 11, 27))
    return server(i, warmup=schedule, **kw)


def test_plan_filter_keeps_members_and_reports_no_one() -> None:
    result = plan_filter([server(1), server(2), server(3)], {1, 3})
    assert [s.id for s in result.kept] == [1, 3]
    assert result.skipped == ()


def test_health_filter_reasons() -> None:
    later = NOW + timedelta(minutes=5)
    result = health_filter(
        [
            server(1, enabled=False),
            server(2, degraded=True, next_check_at=later),
            server(6, degraded=True, next_check_at=NOW - timedelta(minutes=1)),
            server(3, paused_until=later),
            server(4, paused_until=NOW - timedelta(seconds=1)),
            server(5),
        ],
        LOW,
    )
    assert [s.id for s in result.kept] == [4, 5]
    codes = {s.server_id: (s.code, s.until) for s in result.skipped}
    assert codes == {
        1: (SkipCode.DISABLED, None),
        2: (SkipCode.DEGRADED, later),
        6: (SkipCode.DEGRADED, NOW + timedelta(seconds=1)),
        3: (SkipCode.PAUSED, later),
    }
    assert "health check" in result.skipped[1].reason


def test_quota_filter_caps_and_zero_limit() -> None:
    ctx = DispatchContext(
        NOW,
        SendClass.LOW_VOLUME,
        {2: Usage(1000, 0), 3: Usage(10, 50), 4: Usage(100, 0), 5: Usage(99, 0)},
    )
    result = quota_filter(
        [
            server(1, sending_limit=0),
            server(2),
            server(3, hourly_limit=50),
            warming(4),
            warming(5),
        ],
        ctx,
    )
    assert [s.id for s in result.kept] == [5]
    by_id = {s.server_id: s for s in result.skipped}
    assert by_id[1].code is SkipCode.ZERO_LIMIT
    assert by_id[2].code is SkipCode.DAILY_CAP
    assert by_id[2].reason == "daily cap 1000/1000 used, resets 2026-11-28 00:00 UTC"
    assert by_id[2].until == datetime(2026, 11, 28, tzinfo=UTC)
    assert by_id[3].code is SkipCode.HOURLY_CAP
    assert by_id[3].until == datetime(2026, 11, 27, 19, tzinfo=UTC)
    assert by_id[4].code is SkipCode.WARMUP_CAP
    assert by_id[4].reason.startswith("warm-up cap 100/100")


def test_effective_daily_cap_is_the_lower_of_limit_and_warmup() -> None:
    assert warming(1, sending_limit=50).caps(NOW).daily == 50
    assert warming(1).caps(NOW).daily == 100
    assert warming(1).caps(NOW).daily_from_warmup
    done = server(1, warmup=WarmupSchedule(100, 50.0, 200, date(2026, 1, 1)))
    assert not done.is_warming(NOW) and done.caps(NOW).daily == 1000
    assert server(1).warmup_cap(NOW) is None and not server(1).is_warming(NOW)


def test_warmup_filter_burst_skips_warming() -> None:
    result = warmup_filter([server(1), warming(2)], BURST)
    assert [s.id for s in result.kept] == [1]
    assert result.skipped[0].reason == "warming: skipped for burst send"


def test_warmup_filter_low_volume_prefers_warming() -> None:
    result = warmup_filter([server(1), warming(2)], LOW)
    assert [s.id for s in result.kept] == [2]
    assert result.skipped[0].code is SkipCode.PREFER_WARMING


def test_warmup_filter_without_warming_servers_changes_nothing() -> None:
    result = warmup_filter([server(1), server(2)], BURST)
    assert [s.id for s in result.kept] == [1, 2] and result.skipped == ()


def test_select_orders_candidates_and_finds_the_earliest_retry() -> None:
    ctx = DispatchContext(NOW, SendClass.BURST, {1: Usage(1000, 0), 2: Usage(5, 10)})
    sel = select([server(2, hourly_limit=10), server(1), server(3, enabled=False)], {1, 2, 3}, ctx)
    assert sel.empty
    assert sel.retry_at == datetime(2026, 11, 27, 19, tzinfo=UTC)
    assert "s1: daily cap" in sel.explain() and "s3: disabled" in sel.explain()
    ok = select([server(3), server(1), server(2)], {1, 2, 3}, LOW)
    assert [s.id for s in ok.candidates] == [1, 2, 3] and ok.retry_at is None


def test_select_with_nothing_attached_explains_itself() -> None:
    sel = select([server(1)], set(), LOW)
    assert sel.empty and sel.retry_at is None
    assert sel.explain() == "no sending server is attached to this plan"


def test_send_class() -> None:
    assert send_class_for(None) is SendClass.LOW_VOLUME
    assert send_class_for(4999) is SendClass.LOW_VOLUME
    assert send_class_for(5000) is SendClass.BURST
    assert send_class_for(10, threshold=10) is SendClass.BURST


# SMTPUTF8 (docs/design.md §1.2) ----------------------------------------------

UTF8 = DispatchContext(NOW, SendClass.LOW_VOLUME, need=AddressNeed.SMTPUTF8)
SOON = NOW + timedelta(seconds=5)
LATER = NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("ctx", "view", "kept", "reason", "until"),
    [
        (LOW, server(1, smtputf8=False), True, None, None),  # ASCII goes anywhere
        (LOW, server(1), True, None, None),
        (UTF8, server(1, smtputf8=True), True, None, None),
        (UTF8, server(1, smtputf8=False), False, "does not offer SMTPUTF8", None),
        (UTF8, server(1), False, "not yet known to offer SMTPUTF8", SOON),
        # a claimed check moves next_check_at an interval on: look again soon anyway
        (UTF8, server(1, next_check_at=LATER), False, "not yet known", SOON),
        (UTF8, server(1, degraded=True, next_check_at=LATER), False, "not yet known", LATER),
        (UTF8, server(1, degraded=True, next_check_at=NOW), False, "not yet known", NOW + GRACE),
        (UTF8, server(1, degraded=True), False, "not yet known", SOON),
    ],
)
def test_smtputf8_filter(
    ctx: DispatchContext, view: ServerView, kept: bool, reason: str | None, until: object
) -> None:
    result = smtputf8_filter([view], ctx)
    assert bool(result.kept) is kept
    if kept:
        assert result.skipped == ()
        return
    (skipped,) = result.skipped
    assert skipped.code is SkipCode.NO_SMTPUTF8
    assert reason is not None and skipped.reason.startswith(reason)
    assert skipped.until == until


@pytest.mark.parametrize(
    ("need", "views", "fails"),
    [
        (AddressNeed.ASCII, [server(1, smtputf8=False)], False),
        (AddressNeed.SMTPUTF8, [], False),  # no servers at all: it waits for one
        (AddressNeed.SMTPUTF8, [server(1, smtputf8=False), server(2, smtputf8=True)], False),
        (AddressNeed.SMTPUTF8, [server(1, smtputf8=False), server(2)], False),  # unknown: wait
        (AddressNeed.SMTPUTF8, [server(1, smtputf8=True, enabled=False)], False),
        (AddressNeed.SMTPUTF8, [server(2, smtputf8=False), server(1, smtputf8=False)], True),
    ],
)
def test_unsendable_only_when_no_server_of_the_plan_can_ever_take_it(
    need: AddressNeed, views: list[ServerView], fails: bool
) -> None:
    said = unsendable(views, need, "P")
    assert (said is not None) is fails
    if said is not None:
        assert "no server of plan P offers it (s1, s2)" in said
        assert "SMTPUTF8" in said and "attach a server" in said


def test_select_sends_a_non_ascii_address_only_where_smtputf8_is_offered() -> None:
    pool = [warming(1, smtputf8=False), server(2, smtputf8=True), server(3)]
    ascii_sel = select(pool, {1, 2, 3}, LOW)
    assert [s.id for s in ascii_sel.candidates] == [1]  # warming first, as ever
    sel = select(pool, {1, 2, 3}, UTF8)
    # The warm-up preference chooses among the servers that can take it.
    assert [s.id for s in sel.candidates] == [2]
    assert {s.server_id: s.code for s in sel.skipped} == {
        1: SkipCode.NO_SMTPUTF8,
        3: SkipCode.NO_SMTPUTF8,
    }
    waiting = select([server(1, smtputf8=False), server(3)], {1, 3}, UTF8)
    assert waiting.empty and waiting.retry_at == SOON
    assert "s1: does not offer SMTPUTF8" in waiting.explain()
