"""Back-off state in the database: hits judged exactly, engagement, deepening, recovery, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.core.backoff import scaled_rate
from sendpool.core.backoff_rules import Deferral
from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.store.backoffs import load_backoffs, record_backoffs
from sendpool.store.catalog import load_pool
from sendpool.store.tables import AuditEntry, SendingServer
from sendpool.store.tables_backoffs import Backoff, BackoffHit, BackoffRuleRow
from tests.support.scenario import apply, smtp_server
from tests.support.services import PgDatabases
from tests.support.settings import make_settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
GMAIL = "Our system has detected an unusual rate of unsolicited mail - gsmtp"


def server(rt: Runtime, extra: dict[str, Any] | None = None) -> int:
    apply(rt, {"servers": [smtp_server("s", 2525)], **(extra or {})})
    return int(rt.db.transaction(lambda c: c.execute(select(SendingServer.id)).scalar_one()))


def hit(sid: int, at: datetime, group: str = "gmail") -> Deferral:
    return Deferral(sid, group, 421, "4.7.28", GMAIL, at)


def record(rt: Runtime, deferrals: list[Deferral], now: datetime, sent: Any = None) -> Any:
    return rt.db.transaction(record_backoffs, deferrals, sent or {}, now)


def audits(rt: Runtime) -> list[tuple[str, str, dict[str, Any]]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        ).all()
    )
    return [(a, b, d) for a, b, d in rows if b.startswith("backoff.")]


def test_two_hits_engage_then_deepen_then_recover(runtime: Runtime) -> None:
    sid = server(runtime)
    sent = {(sid, "gmail"): 120}  # two a second over this minute
    assert record(runtime, [hit(sid, T0)], T0, sent) == []
    assert runtime.db.transaction(load_backoffs, T0) == {}
    [s] = record(runtime, [hit(sid, T0 + MIN / 2)], T0 + MIN / 2)
    assert (s.factor, s.rule, s.group) == (0.5, "gmail-4.7.28", "gmail")
    assert s.base_rate == pytest.approx(120 / 60)  # over at least a minute
    assert s.reason.startswith("back-off gmail-4.7.28: 2 x 421 4.7.28 from gmail")
    loaded = runtime.db.transaction(load_backoffs, T0 + MIN)
    assert list(loaded) == [(sid, "gmail")]
    pool = runtime.db.transaction(load_pool, runtime.box, T0 + MIN)
    assert pool.backoffs == loaded
    assert scaled_rate(None, pool.backoffs[(sid, "gmail")], T0 + MIN) == pytest.approx(1.0)
    # Deferrals within a step of the change answer the old rate: not counted.
    assert record(runtime, [hit(sid, T0 + 2 * MIN)] * 5, T0 + 2 * MIN) == []
    # The hits that engaged it are spent: one more is not yet a second engagement.
    assert record(runtime, [hit(sid, T0 + 6 * MIN)], T0 + 6 * MIN) == []
    [d] = record(runtime, [hit(sid, T0 + 7 * MIN)], T0 + 7 * MIN)
    assert d.factor == 0.25 and d.base_rate == s.base_rate and d.engaged_at == s.engaged_at
    assert d.changed_at == T0 + 7 * MIN and d.hold_until == T0 + 37 * MIN
    state = runtime.db.transaction(load_backoffs, T0 + 8 * MIN)[(sid, "gmail")]
    ends = state.hold_until + 8 * state.recover_every  # 0.25 -> 1.0 by tenths: 8 steps
    assert runtime.db.transaction(load_backoffs, ends - timedelta(seconds=1))
    assert record(runtime, [], ends) == []
    assert runtime.db.transaction(load_backoffs, ends) == {}
    assert [(a, b) for a, b, _ in audits(runtime)] == [
        ("sendpool", "backoff.engage"),
        ("sendpool", "backoff.deepen"),
        ("sendpool", "backoff.recover"),
    ]
    assert audits(runtime)[0][2]["group"] == "gmail"
    assert record(runtime, [], ends + MIN) == []  # recovered once, audited once
    assert len(audits(runtime)) == 3


def test_hits_outside_the_window_or_the_group_do_not_count(runtime: Runtime) -> None:
    sid = server(runtime)
    assert record(runtime, [hit(sid, T0)], T0) == []
    assert record(runtime, [hit(sid, T0 + 11 * MIN)], T0 + 11 * MIN) == []  # 10 min window
    assert record(runtime, [hit(sid, T0, "yahoo"), hit(sid, T0, None)], T0 + 11 * MIN) == []  # type: ignore[arg-type]
    # Old hits are pruned with the next write of the group.
    at = runtime.db.transaction(lambda c: c.execute(select(BackoffHit.at)).scalars().all())
    assert at == [T0 + 11 * MIN]


def test_one_batch_of_many_hits_engages_once(runtime: Runtime) -> None:
    sid = server(runtime)
    engaged = record(runtime, [hit(sid, T0)] * 30, T0)
    assert [s.factor for s in engaged] == [0.5]


def test_operator_rules_from_the_pool_file(runtime: Runtime) -> None:
    rule = {
        "name": "corp-busy",
        "group": "corp",
        "code": 451,
        "pattern": "slow down",
        "hits": 1,
        "window": "1m",
        "factor": 0.8,
        "hold": 90,
        "recover_step": 0.2,
        "recover_every": "30s",
    }
    corp = [{"name": "corp", "domains": ["corp.example"]}]
    sid = server(runtime, {"provider_groups": corp, "backoff_rules": [rule]})
    d = Deferral(sid, "corp", 451, None, "please SLOW DOWN", T0)
    [s] = record(runtime, [d], T0)
    assert (s.factor, s.hold_until, s.recover_every) == (0.8, T0 + 90 * MIN / 60, MIN / 2)
    assert s.base_rate is None  # nothing counted as sent: the fallback rate is scaled
    [(actor, action, detail)] = [
        a for a in _all_audits(runtime) if a[1] == "pool.backoff_rules.update"
    ]
    assert actor == "pool file" and detail["after"][0]["name"] == "corp-busy"
    apply(runtime, {"backoff_rules": [rule]})  # the same again: no change, no audit
    assert len([a for a in _all_audits(runtime) if a[1] == "pool.backoff_rules.update"]) == 1
    apply(runtime, {})  # left out: left alone
    assert _rule_names(runtime) == ["corp-busy"]
    apply(runtime, {"backoff_rules": []})  # given empty: none of the operator's
    assert _rule_names(runtime) == []


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"pattern": "(unclosed"}, "backoff_rules.0: Value error, pattern: not a valid regular"),
        ({"code": 550}, "code: 550 is not a 4xx reply code"),
        ({"window": "ten minutes"}, "window: 'ten minutes' is not a duration"),
        ({"factor": 2}, "factor: must be between 0 and 1"),
        ({"hits": "2"}, "backoff_rules.0.hits: Input should be a valid integer"),
        ({"colour": "red"}, "backoff_rules.0.colour: Extra inputs are not permitted"),
    ],
    ids=["regex", "code", "duration", "factor", "strict", "unknown-key"],
)
def test_a_bad_rule_is_refused_and_changes_nothing(
    runtime: Runtime, entry: dict[str, Any], said: str
) -> None:
    server(runtime, {"backoff_rules": [{"name": "keep", "group": "gmail", "code": 421}]})
    bad = {"name": "new", "group": "gmail", "code": 421, **entry}
    with pytest.raises(ConfigError) as err:
        apply(runtime, {"backoff_rules": [bad]})
    assert said in str(err.value)
    assert _rule_names(runtime) == ["keep"]


def test_a_rule_on_an_unknown_group_is_refused(runtime: Runtime) -> None:
    server(runtime)
    with pytest.raises(ConfigError) as err:
        apply(runtime, {"backoff_rules": [{"name": "x", "group": "gmial", "code": 421}]})
    assert "backoff_rules[0] (x): group: 'gmial' is not a provider group" in str(err.value)
    assert _rule_names(runtime) == []


def test_two_rules_of_one_name_are_refused(runtime: Runtime) -> None:
    r = {"name": "x", "group": "gmail", "code": 421}
    with pytest.raises(ConfigError, match=r"backoff_rules\[0\] and backoff_rules\[1\]"):
        apply(runtime, {"backoff_rules": [r, r]})


def _all_audits(rt: Runtime) -> list[tuple[str, str, dict[str, Any]]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        ).all()
    )
    return [(a, b, d) for a, b, d in rows]


def _rule_names(rt: Runtime) -> list[str]:
    return list(
        rt.db.transaction(
            lambda c: c.execute(
                select(BackoffRuleRow.name).order_by(BackoffRuleRow.position)
            ).scalars()
        )
    )


@pytest.mark.services
def test_hits_from_racing_workers_are_counted_exactly_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    """Eight write-backs at once, one hit each, a rule of eight hits: it engages exactly once."""
    dbs = PgDatabases(pg_url)
    url = dbs.create()
    try:
        with Runtime.open(make_settings(tmp_path, database_url=url)) as rt:
            rule = {"name": "gmail-4.7.28", "group": "gmail", "code": 421, "hits": 8}
            sid = server(rt, {"backoff_rules": [rule]})
            start = threading.Barrier(8)
            errors: list[BaseException] = []

            def one() -> None:
                try:
                    start.wait()
                    record(rt, [hit(sid, T0)], T0)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=one) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            actions = [b for _a, b, _d in audits(rt)]
            assert actions == ["backoff.engage"]
            factor = rt.db.transaction(lambda c: c.execute(select(Backoff.factor)).scalar_one())
            assert factor == 0.5
    finally:
        dbs.drop(url)
        dbs.close()
