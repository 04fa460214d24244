"""One truth for limits: the pool file, the API, the pages and the rebalancer side by side.

A re-apply once re-enabled a server disabled in the pages, detached a plan
attachment made there, said only "updated", and wrote nothing to the audit
log. Now the file owns what it writes; a change made elsewhere since the
last apply is drift, kept unless forced; every change is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from sendpool.runtime import Runtime
from sendpool.services.pool.apply import ApplyReport, apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.services.servers import commands
from sendpool.services.tenancy import plans
from sendpool.store.tables import AuditEntry, Plan, PlanServer, SendingServer
from tests.support.cli_env import CliEnv
from tests.support.scenario import smtp_server

POOL: dict[str, Any] = {
    "servers": [
        smtp_server("relay-a", 2525, 7000),
        smtp_server("relay-b", 2526, 3000, enabled=True),
        smtp_server("relay-x", 2527, 1000),
    ],
    "plans": [{"name": "Marketing", "servers": ["relay-a", "relay-b"]}],
}


def apply(rt: Runtime, data: dict[str, Any], *, force: bool = False) -> ApplyReport:
    pool, decls = parse_pool(data, {})
    return rt.db.transaction(apply_pool, pool, decls, rt.box, force=force)


def servers(rt: Runtime) -> dict[str, tuple[str, int, float | None]]:
    S = SendingServer
    rows = rt.db.transaction(
        lambda c: c.execute(select(S.name, S.status, S.sending_limit, S.rate_per_second)).all()
    )
    return {n: (st, lim, rate) for n, st, lim, rate in rows}


def members(rt: Runtime) -> list[str]:
    rows = rt.db.transaction(
        lambda c: (
            c.execute(
                select(SendingServer.name)
                .join(PlanServer, PlanServer.server_id == SendingServer.id)
                .join(Plan, Plan.id == PlanServer.plan_id)
                .where(Plan.name == "Marketing")
            )
            .scalars()
            .all()
        )
    )
    return sorted(rows)


def audit(rt: Runtime) -> list[tuple[str, str, Any]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        ).all()
    )
    return [(a, b, d) for a, b, d in rows]


def _elsewhere(rt: Runtime) -> None:
    """What an operator does in the pages: disable relay-b, attach relay-x."""
    now = datetime.now(UTC)
    rt.db.transaction(
        commands.update_server,
        rt.box,
        "relay-b",
        changes={"status": "disabled"},
        actor="admin:ops",
        now=now,
    )
    rt.db.transaction(
        plans.attach_server, "Marketing", "relay-x", attach=True, actor="admin:ops", now=now
    )


def test_a_reapply_keeps_what_was_changed_in_the_pages(runtime: Runtime) -> None:
    apply(runtime, POOL)
    _elsewhere(runtime)
    report = apply(runtime, POOL)
    assert servers(runtime)["relay-b"][0] == "disabled"  # not re-enabled
    assert members(runtime) == ["relay-a", "relay-b", "relay-x"]  # not detached
    drift = {(d.what, d.field): (d.current, d.wanted) for d in report.drift}
    assert drift == {
        ("server relay-b", "status"): ("disabled", "active"),
        ("plan Marketing", "servers: relay-x"): (True, False),
    }
    assert report.changes == []
    last = audit(runtime)[-1]
    assert last[:2] == ("pool file", "pool.apply")
    assert last[2]["drift"] == ["server relay-b: status", "plan Marketing: servers: relay-x"]


def test_force_makes_the_file_the_truth_again(runtime: Runtime) -> None:
    apply(runtime, POOL)
    _elsewhere(runtime)
    report = apply(runtime, POOL, force=True)
    assert report.drift == []
    assert servers(runtime)["relay-b"][0] == "active"
    assert members(runtime) == ["relay-a", "relay-b"]
    assert apply(runtime, POOL).changes == []  # settled: the next apply has nothing to do


def test_the_file_catching_up_settles_the_drift(runtime: Runtime) -> None:
    apply(runtime, POOL)
    _elsewhere(runtime)
    caught_up = {
        "servers": [
            POOL["servers"][0],
            dict(POOL["servers"][1], enabled=False),
            POOL["servers"][2],
        ],
        "plans": [{"name": "Marketing", "servers": ["relay-a", "relay-b", "relay-x"]}],
    }
    report = apply(runtime, caught_up)
    assert report.drift == [] and report.changes == []
    assert apply(runtime, caught_up).drift == []


def test_fields_the_file_does_not_write_are_left_alone(runtime: Runtime) -> None:
    apply(runtime, POOL)
    runtime.db.transaction(
        commands.update_server,
        runtime.box,
        "relay-a",
        changes={"rate_per_second": 5.0},
        actor="admin:ops",
        now=datetime.now(UTC),
    )
    report = apply(runtime, POOL)
    assert servers(runtime)["relay-a"] == ("active", 7000, 5.0)
    assert report.changes == [] and report.drift == []


def test_a_limit_the_rebalancer_raised_is_drift(runtime: Runtime) -> None:
    apply(runtime, POOL)
    runtime.db.transaction(
        lambda c: c.execute(
            update(SendingServer).where(SendingServer.name == "relay-a").values(sending_limit=7700)
        )
    )
    report = apply(runtime, POOL)
    assert servers(runtime)["relay-a"][1] == 7700
    assert [(d.field, d.current, d.wanted) for d in report.drift] == [("sending_limit", 7700, 7000)]


def test_every_change_is_audited_as_the_pool_file(runtime: Runtime) -> None:
    apply(runtime, POOL)
    changed = {
        **POOL,
        "servers": [dict(POOL["servers"][0], sending_limit=9000), *POOL["servers"][1:]],
        "plans": [{"name": "Marketing", "servers": ["relay-a"]}],
    }
    report = apply(runtime, changed)
    assert [(c.what, c.field, c.current, c.wanted) for c in report.changes] == [
        ("server relay-a", "sending_limit", 7000, 9000),
        ("plan Marketing", "servers: relay-b", True, False),
    ]
    entries = [e for e in audit(runtime) if e[0] == "pool file"]
    actions = [a for _, a, _ in entries]
    assert actions.count("pool.server.create") == 3 and actions.count("pool.apply") == 2
    update = next(d for _, a, d in entries if a == "pool.server.update")
    assert update == {"server": "relay-a", "changes": {"sending_limit": {"from": 7000, "to": 9000}}}
    assert members(runtime) == ["relay-a"]


def test_dry_run_prints_the_real_diff(cli: CliEnv, tmp_path: Path) -> None:
    with cli.open() as rt:
        apply(rt, POOL)
        _elsewhere(rt)
    pool = tmp_path / "pool.toml"
    pool.write_text(
        "".join(
            f'[[servers]]\nname = "{s["name"]}"\ntype = "smtp"\nhost = "127.0.0.1"\n'
            f'port = {s["port"]}\nencryption = "none"\nsending_limit = {lim}\n'
            + ("enabled = true\n" if s["name"] == "relay-b" else "")
            for s, lim in zip(POOL["servers"], (7500, 3000, 1000), strict=True)
        )
        + '[[plans]]\nname = "Marketing"\nservers = ["relay-a", "relay-b"]\n'
    )
    cli.wide()
    dry = cli.invoke(["pool", "apply", "--dry-run", str(pool)])
    flat = " ".join(dry.output.split())
    assert dry.exit_code == 1, dry.output  # drift is reported
    assert "server relay-a │ sending_limit │ 7,000 │ 7,500" in flat
    assert "server relay-b │ status │ disabled │ active (changed elsewhere: kept)" in flat
    assert "servers: relay-x │ attached │ not attached (changed elsewhere: kept)" in flat
    with cli.open() as rt:
        assert servers(rt)["relay-a"][1] == 7000  # a dry run writes nothing
        assert not [e for e in audit(rt) if e[0] == "pool file" and e[1] == "pool.apply"][1:]
    forced = cli.invoke(["pool", "apply", "--force", str(pool)])
    assert forced.exit_code == 0, forced.output
    with cli.open() as rt:
        assert servers(rt)["relay-b"][0] == "active" and members(rt) == ["relay-a", "relay-b"]
