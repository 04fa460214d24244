"""Apply a pool file: servers, plans, customers and region rules, matched by name.

Idempotent: applying the same file twice changes nothing the second time.
Everything is checked before the first write and written in one transaction,
so a bad file leaves the pool exactly as it was. Things the file does not
mention are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from sendpool.core.states import ServerHealth
from sendpool.errors import ConfigError
from sendpool.secretbox import SecretBox
from sendpool.services.pool.file import PoolFile, ServerDecl
from sendpool.store.tables import Customer, Plan, PlanServer, RegionRule, SendingServer


@dataclass(slots=True)
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _server_values(decl: ServerDecl) -> dict[str, Any]:
    values = {k: v for k, v in decl.values.items() if k != "name"}
    return {**values, "settings": decl.settings}


def _apply_values(obj: Any, values: Mapping[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _note(report: ApplyReport, label: str, created: bool, changed: bool) -> None:
    if created:
        report.created.append(label)
    elif changed:
        report.updated.append(label)
    else:
        report.unchanged.append(label)


def apply_pool(
    conn: Connection, pool: PoolFile, decls: list[ServerDecl], box: SecretBox
) -> ApplyReport:
    report = ApplyReport()
    with Session(bind=conn, autoflush=True) as session:
        servers = {s.name: s for s in session.scalars(select(SendingServer))}
        for decl in decls:
            name = decl.name
            obj = servers.get(name)
            created = obj is None
            if obj is None:
                obj = SendingServer(name=name, health=ServerHealth.UNKNOWN)
                session.add(obj)
                servers[name] = obj
            changed = _apply_values(obj, _server_values(decl))
            if box.open(obj.secrets_sealed) != decl.secrets:
                obj.secrets_sealed = box.seal(decl.secrets)
                changed = True
            _note(report, f"server {name}", created, changed)
        session.flush()

        plans = {p.name: p for p in session.scalars(select(Plan))}
        for p in pool.plans:
            missing = [n for n in p.servers if n not in servers]
            if missing:
                raise ConfigError(f"plan {p.name!r}: unknown server(s) {', '.join(missing)}")
            plan = plans.get(p.name)
            created = plan is None
            if plan is None:
                plan = Plan(name=p.name)
                session.add(plan)
                plans[p.name] = plan
            changed = _apply_values(plan, {"burst_threshold": p.burst_threshold})
            session.flush()
            want = {servers[n].id for n in p.servers}
            have = set(
                session.scalars(select(PlanServer.server_id).where(PlanServer.plan_id == plan.id))
            )
            for sid in have - want:
                session.delete(session.get(PlanServer, (plan.id, sid)))
            for sid in want - have:
                session.add(PlanServer(plan_id=plan.id, server_id=sid))
            _note(report, f"plan {p.name}", created, changed or want != have)
        session.flush()

        def plan_id(name: str | None, where: str) -> int | None:
            if name is None:
                return None
            if name not in plans:
                raise ConfigError(f"{where}: unknown plan {name!r}; declare it under [[plans]]")
            return plans[name].id

        customers = {c.name: c for c in session.scalars(select(Customer))}
        for c in pool.customers:
            cust = customers.get(c.name)
            created = cust is None
            if cust is None:
                cust = Customer(name=c.name)
                session.add(cust)
            values = {"plan_id": plan_id(c.plan, f"customer {c.name!r}"), "region": c.region}
            _note(report, f"customer {c.name}", created, _apply_values(cust, values))

        rules = {r.region: r for r in session.scalars(select(RegionRule))}
        for r in pool.region_rules:
            pid = plan_id(r.plan, f"region rule {r.region!r}")
            rule = rules.get(r.region)
            created = rule is None
            if rule is None:
                rule = RegionRule(region=r.region, plan_id=pid)
                session.add(rule)
                rules[r.region] = rule
            _note(report, f"region {r.region}", created, _apply_values(rule, {"plan_id": pid}))
        session.flush()
    return report
