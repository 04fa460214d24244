"""Adaptive back-off: the factor over time, the scaled rate, rules matching deferrals, engaging."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.backoff import (
    FALLBACK_BASE_RATE,
    MIN_FACTOR,
    BackoffState,
    deepen,
    factor_at,
    is_over,
    note,
    observed_rate,
    recovered_at,
    scaled_rate,
)
from sendpool.core.backoff_defaults import SHIPPED_RULES
from sendpool.core.backoff_rules import (
    BackoffRuleError,
    Deferral,
    engage,
    longest_window,
    make_rule,
    matching,
    merged,
    reply_codes,
    settling,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def state(**kw: object) -> BackoffState:
    base: dict[str, object] = {
        "server_id": 1,
        "group": "gmail",
        "factor": 0.5,
        "engaged_at": T0,
        "hold_until": T0 + 30 * MIN,
        "recover_step": 0.1,
        "recover_every": 5 * MIN,
        "base_rate": None,
        "rule": "gmail-4.7.28",
        "reason": "r",
    }
    base.update(kw)
    return BackoffState(**base)  # type: ignore[arg-type]


# "halve for 30 minutes, then recover 10 % every 5 minutes"
@pytest.mark.parametrize(
    ("minutes", "factor"),
    [
        (0, 0.5),
        (29, 0.5),
        (30, 0.5),  # the hold is over; the first step comes one interval later
        (34, 0.5),
        (35, 0.6),
        (40, 0.7),
        (54, 0.9),
        (55, 1.0),
        (600, 1.0),
    ],
    ids=lambda v: str(v),
)
def test_factor_holds_then_recovers_in_steps(minutes: int, factor: float) -> None:
    assert factor_at(state(), T0 + minutes * MIN) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("kw", "ends"),
    [
        ({}, T0 + 55 * MIN),
        ({"factor": 0.25, "recover_step": 0.25}, T0 + 45 * MIN),
        ({"factor": 0.95, "recover_step": 0.1}, T0 + 35 * MIN),
        ({"factor": 1.0}, T0 + 30 * MIN),
    ],
    ids=["half-by-tenths", "quarter-by-quarters", "one-step", "nothing-to-recover"],
)
def test_recovered_at_is_when_the_factor_reaches_one(kw: dict[str, object], ends: datetime) -> None:
    s = state(**kw)
    assert recovered_at(s) == ends
    assert is_over(s, ends) and factor_at(s, ends) == 1.0
    assert not is_over(s, ends - timedelta(seconds=1)) or s.factor == 1.0


@pytest.mark.parametrize(
    ("rate", "s", "minutes", "expected"),
    [
        (10.0, None, 0, 10.0),
        (None, None, 0, None),
        (10.0, state(), 0, 5.0),
        (10.0, state(base_rate=40.0), 0, 5.0),  # a configured rate is what is scaled
        (None, state(base_rate=40.0), 0, 20.0),  # none configured: the rate it sent at
        (None, state(base_rate=40.0), 40, 28.0),
        (None, state(), 0, FALLBACK_BASE_RATE * 0.5),
        (10.0, state(), 55, 10.0),
        (None, state(base_rate=40.0), 55, None),  # recovered: unlimited again
    ],
    ids=[
        "no-backoff",
        "no-backoff-unlimited",
        "configured-halved",
        "configured-beats-base",
        "base-halved",
        "base-recovering",
        "no-base",
        "recovered-configured",
        "recovered-unlimited",
    ],
)
def test_scaled_rate(
    rate: float | None, s: BackoffState | None, minutes: int, expected: float | None
) -> None:
    got = scaled_rate(rate, s, T0 + minutes * MIN)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("minutes", "factor", "hold_until"),
    [
        (0, 0.25, T0 + 30 * MIN),  # still held: halves again, hold stays the longer
        (20, 0.25, T0 + 50 * MIN),  # hold extended to now + 30 min
        (45, 0.4, T0 + 75 * MIN),  # recovering at 0.8: halves from where it stands
    ],
    ids=["held", "extends-hold", "from-current"],
)
def test_deepen_halves_again_and_holds_longer(
    minutes: int, factor: float, hold_until: datetime
) -> None:
    now = T0 + minutes * MIN
    d = deepen(state(), now=now, factor=0.5, hold=30 * MIN, rule="x", reason="y")
    assert d.factor == pytest.approx(factor)
    assert d.hold_until == hold_until
    assert (d.rule, d.reason, d.engaged_at) == ("x", "y", T0)


def test_deepen_never_goes_below_the_floor() -> None:
    s = state(factor=MIN_FACTOR)
    assert deepen(s, now=T0, factor=0.5, hold=MIN, rule="x", reason="y").factor == MIN_FACTOR


def test_note_names_the_rule_and_the_share() -> None:
    assert note(state(), T0) == "backed off to 50% by gmail-4.7.28"


@pytest.mark.parametrize(
    ("counts", "now", "expected"),
    [
        ({}, T0, None),
        ({T0 - 10 * MIN: 600}, T0, None),  # too old to count
        ({T0: 0}, T0 + MIN / 2, None),
        ({T0: 30}, T0 + MIN / 2, 0.5),  # at least a minute: a burst is not a rate
        ({T0 - 2 * MIN: 60, T0 - MIN: 60, T0: 60}, T0 + MIN, 1.0),
    ],
    ids=["none", "old", "zero", "burst", "three-minutes"],
)
def test_observed_rate(counts: dict[datetime, int], now: datetime, expected: float | None) -> None:
    got = observed_rate(counts, now)
    assert got == (pytest.approx(expected) if expected is not None else None)


def gmail(code: int | None, enhanced: str | None, text: str, group: str = "gmail") -> Deferral:
    return Deferral(1, group, code, enhanced, text, T0)


GMAIL_428 = (
    "[203.0.113.42] Our system has detected an unusual rate of unsolicited mail originating "
    "from your IP address. To protect our users from spam, mail sent from your IP address "
    "has been temporarily rate limited. - gsmtp"
)


@pytest.mark.parametrize(
    ("deferral", "names"),
    [
        (gmail(421, "4.7.28", GMAIL_428), ["gmail-4.7.28"]),
        (gmail(451, "4.7.28", GMAIL_428), []),  # the rule names 421
        (gmail(421, "4.7.28", GMAIL_428, group="yahoo"), []),
        (gmail(421, "4.7.28", GMAIL_428, group=None), []),  # type: ignore[arg-type]
        (gmail(421, "4.7.0", "Try again later, closing connection."), []),
        (gmail(421, "4.7.0", "temporarily Rate Limited"), ["gmail-4.7.0-rate"]),
        (
            gmail(
                421,
                "4.7.0",
                "[TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected "
                "volume or user complaints - 4.16.55.1",
                group="yahoo",
            ),
            ["yahoo-deferred"],
        ),
        (gmail(421, None, "[TS01] Messages from x deferred", group="yahoo"), ["yahoo-deferred"]),
        (
            gmail(451, "4.7.500", "Server busy. Please try again later (S77719)", "outlook"),
            ["outlook-server-busy"],
        ),
        (
            gmail(
                451,
                "4.7.650",
                "The mail server [203.0.113.10] has been temporarily rate limited due to IP "
                "reputation. (S775)",
                "outlook",
            ),
            ["outlook-4.7.650"],
        ),
        (
            gmail(451, "4.7.651", "has been temporarily rate limited (S3114)", "outlook"),
            ["outlook-4.7.651"],
        ),
        (
            gmail(
                421, "4.7.1", "Messages to x@icloud.com deferred due to excessive volume.", "icloud"
            ),
            ["icloud-excessive-volume"],
        ),
    ],
    ids=[
        "gmail-428",
        "gmail-wrong-code",
        "gmail-wrong-group",
        "no-group",
        "gmail-470-generic",
        "gmail-470-rate",
        "yahoo-tss04",
        "yahoo-ts01-no-enhanced",
        "outlook-busy",
        "outlook-650",
        "outlook-651",
        "icloud",
    ],
)
def test_shipped_rules_match_the_providers_replies(deferral: Deferral, names: list[str]) -> None:
    assert [r.name for r in matching(SHIPPED_RULES, deferral)] == names


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"group": ""}, "group"),
        ({"code": 550}, "code"),
        ({"code": 399}, "code"),
        ({"enhanced": "5.7.1"}, "enhanced"),
        ({"enhanced": "4.7"}, "enhanced"),
        ({"pattern": "(unclosed"}, "pattern"),
        ({"code": None}, "code"),  # nothing to match on
        ({"hits": 0}, "hits"),
        ({"window": timedelta(0)}, "window"),
        ({"recover_every": timedelta(seconds=-1)}, "recover_every"),
        ({"hold": timedelta(seconds=-1)}, "hold"),
        ({"factor": 1.0}, "factor"),
        ({"factor": 0.0}, "factor"),
        ({"recover_step": 0.0}, "recover_step"),
        ({"recover_step": 1.5}, "recover_step"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, dict) else "-".join(f"{k}={v[k]!r}" for k in v),
)
def test_a_bad_rule_names_its_field(kw: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"name": "r", "group": "gmail", "code": 421}
    args.update(kw)
    with pytest.raises(BackoffRuleError) as err:
        make_rule(**args)  # type: ignore[arg-type]
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_pattern_is_compiled_once_and_case_blind() -> None:
    r = make_rule(name="r", group="g", pattern="Server Busy")
    assert r.pattern is not None and r.pattern.search("SERVER BUSY")
    assert r.describe() == "/Server Busy/ from g twice in 10 min"


@pytest.mark.parametrize(
    ("hits", "window", "text"),
    [
        (1, timedelta(hours=2), "421 from g once in 2 h"),
        (2, timedelta(minutes=10), "421 from g twice in 10 min"),
        (5, timedelta(seconds=90), "421 from g 5 times in 90 s"),
    ],
    ids=["once", "twice", "times"],
)
def test_describe(hits: int, window: timedelta, text: str) -> None:
    assert make_rule(name="r", group="g", code=421, hits=hits, window=window).describe() == text


def test_operator_rules_come_first_and_replace_shipped_ones_by_name() -> None:
    mine = make_rule(name="gmail-4.7.28", group="gmail", code=421, hits=5)
    extra = make_rule(name="mine", group="corp", code=451)
    rules = merged([mine, extra], SHIPPED_RULES)
    assert rules[:2] == [mine, extra]
    assert [r.name for r in rules].count("gmail-4.7.28") == 1
    assert len(rules) == len(SHIPPED_RULES) + 1


def test_longest_window() -> None:
    assert longest_window([]) == timedelta(0)
    a = make_rule(name="a", group="g", code=421, window=MIN)
    b = make_rule(name="b", group="g", code=421, window=7 * MIN)
    assert longest_window([a, b]) == 7 * MIN


RULE = make_rule(name="gmail-4.7.28", group="gmail", code=421, enhanced="4.7.28")


@pytest.mark.parametrize(
    ("current", "minutes", "factor", "engaged_at", "hold_until"),
    [
        (None, 0, 0.5, T0, T0 + 30 * MIN),
        (state(), 10, 0.25, T0, T0 + 40 * MIN),  # active: halves again, holds longer
        (state(), 60, 0.5, T0 + 60 * MIN, T0 + 90 * MIN),  # recovered: starts afresh
    ],
    ids=["fresh", "again-while-active", "after-recovery"],
)
def test_engage(
    current: BackoffState | None,
    minutes: int,
    factor: float,
    engaged_at: datetime,
    hold_until: datetime,
) -> None:
    now = T0 + minutes * MIN
    s = engage(RULE, server_id=1, group="gmail", current=current, now=now, base_rate=8.0, hits=2)
    assert s.factor == pytest.approx(factor)
    assert (s.engaged_at, s.hold_until) == (engaged_at, hold_until)
    assert s.reason == "back-off gmail-4.7.28: 2 x 421 4.7.28 from gmail twice in 10 min"
    if current is None:
        assert replace(s, reason="r") == state(base_rate=8.0)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("421 4.7.28 unusual rate", (421, "4.7.28")),
        ("421-4.7.0 [TSS04] deferred", (421, "4.7.0")),
        ("Server busy 4.7.500", (None, "4.7.500")),
        ("smtp; 421 4.7.28 unusual rate", (421, "4.7.28")),
        ("delayed", (None, None)),
    ],
    ids=["both", "continuation", "enhanced-only", "dsn", "neither"],
)
def test_reply_codes_from_text(text: str, codes: tuple[int | None, str | None]) -> None:
    assert reply_codes(text) == codes


@pytest.mark.parametrize(
    ("current", "minutes", "expected"),
    [
        (None, 0, False),
        (state(), 4, True),  # within a step of engaging: the old rate's deferrals
        (state(), 5, False),
        (state(changed_at=T0 + 20 * MIN), 24, True),  # within a step of deepening
        (state(changed_at=T0 + 20 * MIN), 25, False),
        # Recovered within a step of engaging: deferrals now count for a fresh engagement.
        (state(factor=0.9, hold_until=T0, recover_step=0.5, recover_every=MIN), 2, False),
    ],
    ids=["none", "after-engaging", "a-step-later", "after-deepening", "a-step-later-2", "over"],
)
def test_settling(current: BackoffState | None, minutes: int, expected: bool) -> None:
    assert settling(RULE, current, T0 + minutes * MIN) is expected
