"""The capacity forecast (sendpool.core.forecast), one scenario per row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.forecast import CapHit, Forecast, PlanLoad, ServerLoad, forecast

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)


def server(name: str, room: int, **kw: object) -> ServerLoad:
    return ServerLoad(name, room, MIDNIGHT, **kw)  # type: ignore[arg-type]


def test_the_issue_s_sentence() -> None:
    """relay-a fills at 12:10 from a steady launch; what arrives after waits until midnight."""
    load = PlanLoad("Marketing", 0, 1.0, [server("relay-a", 15_000)])
    f = forecast(load, NOW)
    assert f.hits == (CapHit("relay-a", NOW.replace(hour=12, minute=10)),)
    assert f.waiting == 42_600 and f.until == MIDNIGHT  # 1/s from 12:10 to 00:00
    assert f.sentence == (
        "relay-a reaches its daily cap at 12:10 UTC; 42,600 messages would then wait until 00:00 UTC"
    )


def test_a_backlog_fills_the_smaller_server_first() -> None:
    load = PlanLoad("P", 8_000, 0.0, [server("relay-a", 7000), server("relay-b", 3000)])
    f = forecast(load, NOW)
    assert f.hits == (CapHit("relay-b", NOW),)
    assert f.sent == {"relay-a": 5000, "relay-b": 3000} and f.waiting == 0


@pytest.mark.parametrize(
    ("load", "hits", "waiting"),
    [
        # Plenty of room: nothing fills, nothing waits.
        (PlanLoad("P", 100, 0.0, [server("a", 1000), server("b", 1000)]), [], 0),
        # A steady 1/s over two servers with 7,200 each: each takes 0.5/s, full after 4 h.
        (
            PlanLoad("P", 0, 1.0, [server("a", 7200), server("b", 7200)]),
            [("a", NOW + timedelta(hours=4)), ("b", NOW + timedelta(hours=4))],
            12 * 3600,
        ),
        # A rate limit spreads the backlog: 1/s drains 600 in 10 minutes, then it is full.
        (
            PlanLoad("P", 5000, 0.0, [server("a", 600, rate_per_second=1.0)]),
            [("a", NOW + timedelta(minutes=10))],
            4400,
        ),
        # Already full: reported as full now, everything waits.
        (PlanLoad("P", 50, 0.0, [server("a", 0)]), [("a", NOW)], 50),
        # The hourly cap refills each hour: 100 an hour, 250 sent by 10:30.
        (
            PlanLoad(
                "P",
                250,
                0.0,
                [
                    server(
                        "a",
                        250,
                        hourly_cap=100,
                        hour_room=100,
                        hour_ends_at=NOW + timedelta(hours=1),
                    )
                ],
            ),
            [("a", NOW + timedelta(hours=2))],
            0,
        ),
    ],
)
def test_forecasts(load: PlanLoad, hits: list[tuple[str, datetime]], waiting: int) -> None:
    f = forecast(load, NOW)
    assert [(h.server, h.at) for h in f.hits] == hits
    assert f.waiting == waiting
    assert f.until == (MIDNIGHT if waiting else None)


def test_a_plan_without_servers_waits_for_good() -> None:
    f = forecast(PlanLoad("P", 40, 0.0, []), NOW)
    assert (f.waiting, f.until, f.hits) == (40, None, ())
    assert f.sentence == "40 messages would wait: no server can send them"


def test_sentences() -> None:
    assert Forecast("P", (), 0, None).sentence == (
        "no server reaches its daily cap before its day ends"
    )
    hit = Forecast("P", (CapHit("relay-a", NOW.replace(hour=12, minute=10)),), 0, None)
    assert hit.sentence == "relay-a reaches its daily cap at 12:10 UTC"
    waits = Forecast("P", hit.hits, 18_400, MIDNIGHT)
    assert waits.sentence == (
        "relay-a reaches its daily cap at 12:10 UTC; 18,400 messages would then wait until 00:00 UTC"
    )


def test_the_day_ends_before_the_window_is_played_out() -> None:
    late = NOW.replace(hour=23, minute=59)
    f = forecast(PlanLoad("P", 30, 1.0, [server("a", 100)]), late)
    assert f.hits == () and f.waiting == 0 and f.sent == {"a": 30}


def test_the_forecast_looks_two_days_ahead_at_most() -> None:
    far = ServerLoad("a", 10**9, NOW + timedelta(days=3))
    f = forecast(PlanLoad("P", 0, 1.0, [far]), NOW)
    assert f.sent == {"a": 2 * 24 * 3600 - 60} and f.hits == ()
