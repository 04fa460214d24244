"""Provider groups and per server x group limits in the pool file: checked, applied, audited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.core.providers import GroupLimits, ProviderGroup
from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.diff import ApplyReport
from sendpool.services.pool.file import parse_pool
from sendpool.store.catalog import SqlCatalog
from sendpool.store.tables import AuditEntry, ProviderGroupRow, ProviderLimit
from tests.support.dispatch_helpers import NOW
from tests.support.scenario import smtp_server


def pool(**extra: Any) -> dict[str, Any]:
    return {
        "servers": [smtp_server("relay-a", 2525), smtp_server("relay-b", 2526)],
        "provider_groups": [
            {"name": "workspace", "mx": ["*.google.com"]},
            {"name": "corp", "domains": ["Corp.Example", "bücher.example"]},
        ],
        "provider_limits": [
            {"server": "relay-a", "group": "gmail", "rate_per_second": 5, "burst": 5},
            {
                "server": "relay-a",
                "group": "corp",
                "max_connections": 2,
                "messages_per_connection": 100,
            },
        ],
        **extra,
    }


def apply(rt: Runtime, data: dict[str, Any]) -> ApplyReport:
    parsed, decls = parse_pool(data, {})
    report: ApplyReport = rt.db.transaction(apply_pool, parsed, decls, rt.box)
    return report


def rows(rt: Runtime) -> tuple[list[Any], list[Any]]:
    def read(c: Any) -> tuple[list[Any], list[Any]]:
        g = c.execute(select(ProviderGroupRow.name, ProviderGroupRow.domains)).all()
        lim = c.execute(select(ProviderLimit.group_name, ProviderLimit.rate_per_second)).all()
        return [tuple(r) for r in g], sorted(tuple(r) for r in lim)

    return rt.db.transaction(read)


def test_applied_groups_and_limits_reach_the_pool_loader(runtime: Runtime) -> None:
    report = apply(runtime, pool())
    assert "provider group workspace" in report.created
    assert "provider limits relay-a x gmail" in report.created
    loaded = asyncio.run(SqlCatalog(runtime.db, runtime.box).pool(NOW))
    assert loaded.provider_groups == (
        ProviderGroup("workspace", frozenset(), ("*.google.com",)),
        ProviderGroup("corp", frozenset({"corp.example", "xn--bcher-kva.example"})),
    )
    a = next(s.id for s in loaded.servers if s.name == "relay-a")
    assert loaded.provider_limits == {
        (a, "gmail"): GroupLimits(5.0, 5, None, None),
        (a, "corp"): GroupLimits(None, None, 2, 100),
    }

    # Applied again: nothing changes, nothing more is audited.
    def audits(c: Any) -> list[str]:
        return list(c.scalars(select(AuditEntry.action).where(AuditEntry.actor == "pool file")))

    before = runtime.db.transaction(audits)
    assert "pool.provider_limit.create" in before and "pool.provider_group.create" in before
    again = apply(runtime, pool())
    assert not again.changed and runtime.db.transaction(audits) == before


def test_the_file_owns_the_limits_of_the_servers_it_names(runtime: Runtime) -> None:
    apply(runtime, pool())
    data = pool()
    data["provider_limits"] = [{"server": "relay-a", "group": "gmail", "rate_per_second": 2}]
    report = apply(runtime, data)
    assert "provider limits relay-a x corp" in report.updated
    changes = {(c.what, c.field): (c.current, c.wanted) for c in report.changes}
    assert changes[("provider limits relay-a x gmail", "rate_per_second")] == (5.0, 2.0)
    assert rows(runtime)[1] == [("gmail", 2.0)]
    # Left out of the file, the key leaves everything as it is.
    data.pop("provider_limits")
    data.pop("provider_groups")
    assert not apply(runtime, data).changed
    assert rows(runtime)[1] == [("gmail", 2.0)]


def test_a_dry_run_reports_the_change_and_writes_nothing(runtime: Runtime) -> None:
    apply(runtime, pool())
    data = pool()
    data["provider_limits"][0]["rate_per_second"] = 9
    parsed, decls = parse_pool(data, {})
    with runtime.db.engine.connect() as conn:
        trans = conn.begin()
        report = apply_pool(conn, parsed, decls, runtime.box)
        trans.rollback()
    assert any(c.field == "rate_per_second" and c.wanted == 9 for c in report.changes)
    assert ("gmail", 5.0) in rows(runtime)[1]


def test_a_group_still_limited_cannot_be_left_out(runtime: Runtime) -> None:
    apply(runtime, pool())
    data = pool(servers=[smtp_server("relay-b", 2526)])
    data["provider_groups"] = []
    data["provider_limits"] = []
    with pytest.raises(ConfigError, match="'corp' is left out of the file but server 'relay-a'"):
        apply(runtime, data)
    assert len(rows(runtime)[0]) == 2


BAD = [
    ({"provider_limits": [{"server": "relay-a", "group": "nope", "rate_per_second": 1}]},
     "group: unknown provider group 'nope'"),
    ({"provider_limits": [{"server": "ghost", "group": "gmail", "rate_per_second": 1}]},
     "unknown server 'ghost'"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "rate_per_second": 0}]},
     "provider_limits.0.rate_per_second: Input should be greater than 0"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "rate_per_second": -3}]},
     "rate_per_second: Input should be greater than 0"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "rate_per_second": 1e9}]},
     "rate_per_second: Input should be less than or equal to 100000"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "max_connections": 0}]},
     "max_connections: Input should be greater than or equal to 1"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "burst": 3}]},
     "a burst needs a rate_per_second"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail"}]},
     "give at least one of rate_per_second"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "rate_per_second": "5"}]},
     "rate_per_second: Input should be a valid number"),
    ({"provider_limits": [{"server": "relay-a", "group": "gmail", "rate_per_second": 1},
                          {"server": "RELAY-A", "group": "gmail", "rate_per_second": 2}]},
     "provider_limits\\[0\\] and provider_limits\\[1\\] are both for server"),
    ({"provider_groups": [{"name": "x", "domains": ["a.example"]}, {"name": "x", "mx": ["m.x.y"]}]},
     "provider_groups\\[0\\] and provider_groups\\[1\\] are both named 'x'"),
    ({"provider_groups": [{"name": "x", "domains": ["a.example"]},
                          {"name": "y", "domains": ["A.example"]}]},
     "a.example is already in group 'x'"),
    ({"provider_groups": [{"name": "x"}]}, "give its domains, its mx host patterns, or both"),
    ({"provider_groups": [{"name": "x", "mx": ["a.*.com"]}]}, "provider_groups.0.mx: .*'a.\\*.com' is not"),
    ({"provider_groups": [{"name": "x", "mx": ["*.com"]}]}, "provider_groups.0.mx: .*'\\*.com' is not"),
    ({"provider_groups": [{"name": "x", "mx": ["localhost"]}]}, "provider_groups.0.mx: .*'localhost' is not"),
    ({"provider_groups": [{"name": "x", "domains": ["*.a.example"]}]}, "provider_groups.0.domains: .*domains match whole"),
    ({"provider_groups": [{"name": "Big Name", "domains": ["a.example"]}]},
     "provider_groups.0.name: String should match pattern"),
    ({"provider_groups": [{"name": "x", "domains": ["a.example"], "speed": 1}]},
     "provider_groups.0.speed: Extra inputs are not permitted"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "said"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_entries_are_refused_by_field_and_change_nothing(
    runtime: Runtime, extra: dict[str, Any], said: str
) -> None:
    apply(runtime, pool())
    before = rows(runtime)
    data = {**pool(), **extra}
    with pytest.raises(ConfigError, match=said):
        apply(runtime, data)
    assert rows(runtime) == before


def test_a_shipped_name_may_be_redefined(runtime: Runtime) -> None:
    data = pool()
    data["provider_groups"] = [{"name": "gmail", "domains": ["gmail.example"]}]
    data["provider_limits"] = [{"server": "relay-a", "group": "gmail", "rate_per_second": 1}]
    apply(runtime, data)
    assert rows(runtime)[0] == [("gmail", ["gmail.example"])]
