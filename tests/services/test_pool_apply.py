"""Pool as configuration: idempotent, checked whole, secrets from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import load_pool_file, parse_pool
from sendpool.store.tables import Customer, Plan, PlanServer, RegionRule, SendingServer

POOL: dict[str, Any] = {
    "servers": [
        {
            "name": "relay-a",
            "type": "smtp",
            "host": "127.0.0.1",
            "port": 2525,
            "encryption": "none",
            "username": "mailer",
            "password_env": "RELAY_A_PASSWORD",
            "sending_limit": 10000,
            "hourly_limit": 1000,
            "rate_per_second": 50,
            "timezone": "Europe/Paris",
            "default_from_email": "news@example.com",
            "warmup": {
                "start_daily": 500,
                "growth_percent": 50,
                "target_daily": 50000,
                "started_on": "2026-11-20",
            },
        },
        {"name": "relay-b", "type": "smtp", "host": "127.0.0.1", "port": 2526, "sending_limit": 0},
    ],
    "plans": [
        {"name": "Marketing", "servers": ["relay-a", "relay-b"]},
        {"name": "EU", "servers": ["relay-a"]},
    ],
    "customers": [{"name": "acme", "plan": "Marketing", "region": "eu"}],
    "region_rules": [{"region": "eu", "plan": "EU"}],
}
ENV = {"RELAY_A_PASSWORD": "hunter2"}
WARM = POOL["servers"][0]["warmup"]


def apply(rt: Runtime, data: dict[str, Any], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    pool, decls = parse_pool(data, ENV if env is None else env)
    return rt.db.transaction(apply_pool, pool, decls, rt.box)


def snapshot(rt: Runtime) -> list[Any]:
    def read(c: Any) -> list[Any]:
        return [
            c.execute(
                select(
                    SendingServer.name,
                    SendingServer.sending_limit,
                    SendingServer.settings,
                    SendingServer.updated_at,
                ).order_by(SendingServer.name)
            ).all(),
            c.execute(
                select(PlanServer.plan_id, PlanServer.server_id).order_by(
                    PlanServer.plan_id, PlanServer.server_id
                )
            ).all(),
            c.execute(select(Customer.name, Customer.plan_id, Customer.region)).all(),
            c.execute(select(RegionRule.region, RegionRule.plan_id)).all(),
            c.execute(select(Plan.name)).all(),
        ]

    return rt.db.transaction(read)


def test_applying_twice_changes_nothing_the_second_time(runtime: Runtime) -> None:
    first = apply(runtime, POOL)
    assert len(first.created) == 6 and not first.updated
    before = snapshot(runtime)
    second = apply(runtime, POOL)
    assert not second.changed and len(second.unchanged) == 6
    assert snapshot(runtime) == before


def test_secrets_are_encrypted_at_rest_and_readable_with_the_key(runtime: Runtime) -> None:
    apply(runtime, POOL)
    sealed = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.secrets_sealed).where(SendingServer.name == "relay-a")
        ).scalar()
    )
    assert sealed and "hunter2" not in sealed
    assert runtime.box.open(sealed) == {"password": "hunter2"}
    changed = apply(runtime, POOL, {"RELAY_A_PASSWORD": "new"})
    assert changed.updated == ["server relay-a"]


def test_a_change_is_an_update_and_detach_works(runtime: Runtime) -> None:
    apply(runtime, POOL)
    data = {
        **POOL,
        "servers": [dict(POOL["servers"][0], sending_limit=20000), POOL["servers"][1]],
        "plans": [{"name": "Marketing", "servers": ["relay-a"]}, POOL["plans"][1]],
    }
    report = apply(runtime, data)
    assert report.updated == ["server relay-a", "plan Marketing"]
    members = runtime.db.transaction(
        lambda c: c.execute(select(PlanServer.server_id)).scalars().all()
    )
    assert sorted(members) == [1, 1]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"servers": [dict(POOL["servers"][0], password="plain")]},
            "must not be written in the file",
        ),
        ({"servers": [dict(POOL["servers"][0], password_env="NOPE")]}, "NOPE is not set"),
        ({"servers": [dict(POOL["servers"][0], type="fax")]}, "unknown server type 'fax'"),
        ({"servers": [dict(POOL["servers"][0], hots="x")]}, "hots: Extra inputs are not permitted"),
        ({"servers": [dict(POOL["servers"][0], port=70000)]}, "port: Input should be less than"),
        ({"servers": [dict(POOL["servers"][0], timezone="Mars/Olympus")]}, "unknown time zone"),
        ({"servers": [dict(POOL["servers"][0], sending_limit=-1)]}, "sending_limit"),
        ({"servers": [dict(POOL["servers"][0], default_from_email="nope")]}, "invalid email"),
        (
            {"servers": [POOL["servers"][0], POOL["servers"][0]]},
            r"servers\[0\] and servers\[1\] are both named 'relay-a'",
        ),
        (
            {"servers": [*POOL["servers"], dict(POOL["servers"][1], name="RELAY-B ")]},
            r"servers\[1\] and servers\[2\] are both named 'relay-b' \(as 'RELAY-B'",
        ),
        (
            {"plans": [*POOL["plans"], {"name": "EU", "servers": []}]},
            r"plans\[1\] and plans\[2\] are both named 'EU'",
        ),
        (
            {"customers": [*POOL["customers"], {"name": "other"}, {"name": "acme"}]},
            r"customers\[0\] and customers\[2\] are both named 'acme'",
        ),
        (
            {"region_rules": [*POOL["region_rules"], {"region": "eu ", "plan": "Marketing"}]},
            r"region_rules\[0\] and region_rules\[1\] are both for region 'eu'",
        ),
        (
            {"servers": [dict(POOL["servers"][0], sending_limit=99999999999999999999)]},
            "sending_limit: Input should be less than or equal to",
        ),
        ({"plans": [{"name": "X", "burst_threshold": 99999999999999999999}]}, "burst_threshold"),
        ({"plans": [{"name": "X", "burst_threshold": True}]}, "burst_threshold"),
        ({"servers": [dict(POOL["servers"][0], sending_limit=True)]}, "sending_limit"),
        (
            {"servers": [dict(POOL["servers"][0], port=True)]},
            "port: Input should be a valid integer",
        ),
        ({"servers": [dict(POOL["servers"][0], host="h\r\nx")]}, "host: must not contain control"),
        (
            {"servers": [dict(POOL["servers"][0], warmup={**WARM, "start_daily": 10**6})]},
            r"warmup\.start_daily: must not exceed target_daily",
        ),
        ({"plans": [{"name": "X", "servers": ["relay-z"]}]}, "unknown server"),
        ({"customers": [{"name": "acme", "plan": "Nope"}]}, "unknown plan 'Nope'"),
        ({"region_rules": [{"region": "eu", "plan": "Nope"}]}, "unknown plan 'Nope'"),
        ({"servrs": []}, "servrs: Extra inputs are not permitted"),
        (
            {"servers": [{"name": "a\r\nb", "type": "smtp", "host": "h", "sending_limit": 1}]},
            "name",
        ),
    ],
)
def test_a_bad_file_changes_nothing(runtime: Runtime, patch: dict[str, Any], message: str) -> None:
    apply(runtime, POOL)
    before = snapshot(runtime)
    with pytest.raises(ConfigError, match=message):
        apply(runtime, {**POOL, **patch})
    assert snapshot(runtime) == before


def test_toml_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_pool_file(tmp_path / "missing.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[[servers]\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pool_file(bad, {})


def test_a_name_of_another_case_is_the_same_row_renamed(runtime: Runtime) -> None:
    apply(runtime, POOL)
    before = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.id, SendingServer.name).order_by(SendingServer.id)
        ).all()
    )
    data = {
        **POOL,
        "servers": [dict(POOL["servers"][0], name="Relay-A"), POOL["servers"][1]],
        "plans": [{"name": "marketing", "servers": ["RELAY-A ", "relay-b"]}, POOL["plans"][1]],
        "customers": [{"name": "ACME", "plan": "MARKETING", "region": "eu"}],
    }
    report = apply(runtime, data)
    assert report.updated == ["server Relay-A", "plan marketing", "customer ACME"]
    after = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.id, SendingServer.name).order_by(SendingServer.id)
        ).all()
    )
    assert [i for i, _ in after] == [i for i, _ in before]
    assert sorted(n for _, n in after) == ["Relay-A", "relay-b"]
    names = runtime.db.transaction(
        lambda c: (
            c.execute(select(Plan.name).order_by(Plan.name)).scalars().all(),
            c.execute(select(Customer.name)).scalars().all(),
        )
    )
    assert names == (["EU", "marketing"], ["ACME"])
    assert not apply(runtime, data).changed
