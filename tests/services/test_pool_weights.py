"""Weights and selector in the pool file: applied, shown in the diff, audited, drift, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.store.tables import AuditEntry, Plan, PlanServer, SendingServer

SERVERS = [
    {"name": n, "type": "smtp", "host": "127.0.0.1", "port": p, "sending_limit": 100}
    for n, p in (("relay-a", 2525), ("relay-b", 2526))
]
POOL: dict[str, Any] = {
    "servers": SERVERS,
    "plans": [
        {
            "name": "Marketing",
            "selector": "smooth_weighted",
            "servers": [{"name": "relay-a", "weight": 7}, {"name": "relay-b", "weight": 3}],
        }
    ],
}


def apply(rt: Runtime, data: dict[str, Any], *, force: bool = False):  # type: ignore[no-untyped-def]
    pool, decls = parse_pool(data, {})
    return rt.db.transaction(apply_pool, pool, decls, rt.box, force=force)


def weights(rt: Runtime) -> tuple[str, dict[str, int]]:
    def read(c: Any) -> tuple[str, dict[str, int]]:
        selector = c.execute(select(Plan.selector).where(Plan.name == "Marketing")).scalar_one()
        rows = c.execute(
            select(SendingServer.name, PlanServer.weight).join(
                SendingServer, SendingServer.id == PlanServer.server_id
            )
        )
        return selector, {n: w for n, w in rows}

    return rt.db.transaction(read)


def test_weights_and_selector_are_applied_and_audited(runtime: Runtime) -> None:
    report = apply(runtime, POOL)
    assert weights(runtime) == ("smooth_weighted", {"relay-a": 7, "relay-b": 3})
    fields = {c.field: c.wanted for c in report.changes if c.what == "plan Marketing"}
    assert fields["selector"] == "smooth_weighted"
    assert fields["weights: relay-a"] == 7 and fields["weights: relay-b"] == 3
    audit = runtime.db.transaction(
        lambda c: c.execute(
            select(AuditEntry.detail).where(
                AuditEntry.actor == "pool file", AuditEntry.action == "pool.plan.create"
            )
        ).scalar_one()
    )
    assert audit["changes"]["weights: relay-a"] == {"from": 1, "to": 7}
    again = apply(runtime, POOL)
    assert not again.changes and not again.drift  # idempotent


def test_a_bare_name_weighs_one_and_a_changed_weight_is_a_change(runtime: Runtime) -> None:
    apply(runtime, POOL)
    data = copy.deepcopy(POOL)
    data["plans"][0]["servers"] = ["relay-a", {"name": "relay-b", "weight": 5}]
    report = apply(runtime, data)
    changed = {(c.field, c.current, c.wanted) for c in report.changes}
    assert changed == {("weights: relay-a", 7, 1), ("weights: relay-b", 3, 5)}
    assert weights(runtime)[1] == {"relay-a": 1, "relay-b": 5}


def test_a_weight_changed_elsewhere_is_drift_kept_unless_forced(runtime: Runtime) -> None:
    apply(runtime, POOL)
    runtime.db.transaction(
        lambda c: c.execute(
            PlanServer.__table__.update()
            .values(weight=9)
            .where(
                PlanServer.server_id
                == select(SendingServer.id).where(SendingServer.name == "relay-a").scalar_subquery()
            )
        )
    )
    report = apply(runtime, POOL)
    assert [(d.field, d.current, d.wanted) for d in report.drift] == [("weights: relay-a", 9, 7)]
    assert weights(runtime)[1]["relay-a"] == 9
    apply(runtime, POOL, force=True)
    assert weights(runtime)[1]["relay-a"] == 7


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"name": "relay-a", "weight": 0}, "greater than or equal to 1"),
        ({"name": "relay-a", "weight": 1001}, "less than or equal to 1000"),
        ({"name": "relay-a", "weight": "3"}, "weight"),
        ({"name": "relay-a", "weight": 2, "share": 1}, "share"),
    ],
    ids=["zero", "1001", "string", "unknown-key"],
)
def test_a_bad_weight_is_refused_and_nothing_changes(
    runtime: Runtime, entry: dict[str, Any], said: str
) -> None:
    data = copy.deepcopy(POOL)
    data["plans"][0]["servers"] = [entry]
    with pytest.raises(ConfigError, match=said) as err:
        apply(runtime, data)
    assert "plans.0.servers" in str(err.value)
    assert runtime.db.transaction(lambda c: c.execute(select(Plan.id)).all()) == []


def test_an_unknown_selector_is_refused_with_the_known_ones(runtime: Runtime) -> None:
    data = copy.deepcopy(POOL)
    data["plans"][0]["selector"] = "fastest"
    with pytest.raises(ConfigError, match="plans.0.selector: .*unknown selector 'fastest'") as err:
        apply(runtime, data)
    assert "smooth_weighted" in str(err.value) and "round_robin" in str(err.value)
    assert runtime.db.transaction(lambda c: c.execute(select(Plan.id)).all()) == []


def test_a_warm_up_by_share_alone_is_stored_and_a_bad_share_refused(runtime: Runtime) -> None:
    data = copy.deepcopy(POOL)
    data["servers"][1]["warmup"] = {"started_on": "2026-12-01", "percent_per_day": 5}
    apply(runtime, data)
    stored = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.warmup).where(SendingServer.name == "relay-b")
        ).scalar_one()
    )
    assert stored["percent_per_day"] == 5 and stored["start_daily"] is None
    for bad, said in (
        ({"started_on": "2026-12-01", "percent_per_day": 101}, "percent_per_day"),
        ({"started_on": "2026-12-01", "start_percent": 0, "percent_per_day": 5}, "start_percent"),
        ({"started_on": "2026-12-01"}, "a share, or both"),
    ):
        data["servers"][1]["warmup"] = bad
        with pytest.raises(ConfigError, match=said):
            apply(runtime, data)
