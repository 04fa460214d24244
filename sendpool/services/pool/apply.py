"""Apply a pool file: servers, plans, customers and region rules, matched by name.

Idempotent: applying the same file twice changes nothing the second time.
Everything is checked before the first write and written in one transaction,
so a bad file leaves the pool exactly as it was. Things the file does not
mention are left alone; a customer that lists ``sending_domains`` has exactly
those afterwards (the file is the truth for it), one that does not keeps its
own, however they were added. Which fields of servers and plans the file owns,
and what happens to those changed elsewhere since the last apply, is said in
``diff.py``. Every change is written to the audit log with the actor
"pool file".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from sendpool.core.selectors import DEFAULT as DEFAULT_SELECTOR
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.errors import ConfigError
from sendpool.secretbox import SecretBox
from sendpool.services.errors import ConflictError
from sendpool.services.messages.waiting import capacity_added
from sendpool.services.operations.audit import write_audit
from sendpool.services.pool.backoff_rules import apply_backoff_rules
from sendpool.services.pool.diff import (
    HIDDEN,
    ApplyReport,
    FieldChange,
    apply_fields,
    member_changes,
)
from sendpool.services.pool.file import PoolFile, ServerDecl
from sendpool.services.pool.plan_weights import apply_weights
from sendpool.services.pool.providers import apply_providers
from sendpool.services.servers.fields import enabled_status
from sendpool.services.tenancy.sending_domains import set_domains
from sendpool.store.tables import Customer, Plan, PlanServer, RegionRule, SendingServer


class _Named(Protocol):
    name: str


R = TypeVar("R", bound=_Named)
ACTOR = "pool file"  # who the audit log says made the changes
__all__ = ["ApplyReport", "apply_pool"]


class _ByName(Generic[R]):
    """Rows by name, found as refs.py finds them: the exact name, else the one of another case.

    Names are unique without regard to case (migration 0005), so "MG" in the file is
    the stored "mg", renamed to the file's spelling, never a second row beside it.
    """

    def __init__(self, rows: Iterable[R]) -> None:
        self._rows = {row.name: row for row in rows}

    def _key(self, name: str) -> str:
        if name in self._rows:
            return name
        folded = [k for k in self._rows if k.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else name

    def __contains__(self, name: str) -> bool:
        return self._key(name) in self._rows

    def __getitem__(self, name: str) -> R:
        return self._rows[self._key(name)]

    def __setitem__(self, name: str, row: R) -> None:
        self._rows[name] = row

    def get(self, name: str) -> R | None:
        return self._rows.get(self._key(name))


def _server_values(decl: ServerDecl) -> dict[str, Any]:
    # The name too: a server found under another case takes the file's spelling.
    return {**decl.values, "settings": decl.settings}


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


def _owned(decl: ServerDecl, obj: SendingServer, created: bool) -> dict[str, Any]:
    """The server's values the file owns: every key for a new server, the written ones else."""
    values = _server_values(decl)
    if created:
        return values
    values = {k: v for k, v in values.items() if k in decl.named or k == "settings"}
    if "status" in values:
        enabled = values["status"] != ServerStatus.DISABLED
        values["status"] = enabled_status(enabled, obj.status)
    return values


def _audit_changes(
    conn: Connection, report: ApplyReport, what: str, created: bool, now: datetime, **ids: Any
) -> None:
    changes = report.of(what)
    if not changes:
        return
    kind, name = what.split(" ", 1)
    action = f"pool.{kind}.{'create' if created else 'update'}"
    detail = {kind: name, "changes": changes}
    write_audit(conn, actor=ACTOR, action=action, now=now, detail=detail, **ids)


def apply_pool(
    conn: Connection,
    pool: PoolFile,
    decls: list[ServerDecl],
    box: SecretBox,
    *,
    force: bool = False,
) -> ApplyReport:
    """Apply the file; fields changed elsewhere since the last apply are kept unless ``force``."""
    now = datetime.now(UTC)
    report = ApplyReport()
    roomier: set[int] = set()  # servers whose changes may let waiting mail go
    joined: set[int] = set()  # plans given a server they did not have
    with Session(bind=conn, autoflush=True) as session:
        servers = _ByName(session.scalars(select(SendingServer)))
        touched: list[tuple[str, SendingServer, bool, bool]] = []
        for decl in decls:
            name = decl.name
            obj = servers.get(name)
            created = obj is None
            if obj is None:
                obj = SendingServer(name=name, health=ServerHealth.UNKNOWN)
                session.add(obj)
                servers[name] = obj
            what = f"server {name}"
            owned = _owned(decl, obj, created)
            changed, room = apply_fields(obj, owned, what, report, force=force)
            if box.open(obj.secrets_sealed) != decl.secrets:
                obj.secrets_sealed = box.seal(decl.secrets)
                report.changes.append(FieldChange(what, "secrets", HIDDEN, "(changed)"))
                changed = True
            touched.append((what, obj, created, room))
            _note(report, what, created, changed)
        session.flush()
        for what, obj, created, room in touched:
            if room and not created:
                roomier.add(obj.id)
            _audit_changes(conn, report, what, created, now, server_id=obj.id)

        plans = _ByName(session.scalars(select(Plan)))
        names = {o.id: o.name for o in session.scalars(select(SendingServer))}
        for p in pool.plans:
            missing = [n for n in p.server_names if n not in servers]
            if missing:
                raise ConfigError(f"plan {p.name!r}: unknown server(s) {', '.join(missing)}")
            plan = plans.get(p.name)
            created = plan is None
            if plan is None:
                plan = Plan(name=p.name)
                session.add(plan)
                plans[p.name] = plan
            what = f"plan {p.name}"
            values: dict[str, Any] = {"name": p.name}
            if created or "burst_threshold" in p.model_fields_set:
                values["burst_threshold"] = p.burst_threshold
            if created or "selector" in p.model_fields_set:
                values["selector"] = p.selector or DEFAULT_SELECTOR
            changed, _room = apply_fields(plan, values, what, report, force=force)
            session.flush()
            have_ids = set(
                session.scalars(select(PlanServer.server_id).where(PlanServer.plan_id == plan.id))
            )
            record = (plan.pool_applied or {}).get("servers")
            applied = None if created or record is None else frozenset(record)
            attach, detach, kept = member_changes(
                {names[i] for i in have_ids},
                {servers[n].name for n in p.server_names},
                applied,
                what,
                report,
                force=force,
            )
            for n in detach:
                session.delete(session.get(PlanServer, (plan.id, servers[n].id)))
            for n in attach:
                session.add(PlanServer(plan_id=plan.id, server_id=servers[n].id))
            if attach:
                joined.add(plan.id)
            plan.pool_applied = {**(plan.pool_applied or {}), "servers": sorted(kept)}
            session.flush()
            file_weights = {servers[n].name: w for n, w in p.weights.items()}
            ids = {servers[n].name: servers[n].id for n in p.server_names}
            weighed = apply_weights(session, plan, file_weights, ids, what, report, force=force)
            _note(report, what, created, changed or weighed or bool(attach or detach))
            session.flush()
            _audit_changes(conn, report, what, created, now)
        session.flush()

        def plan_id(name: str | None, where: str) -> int | None:
            if name is None:
                return None
            if name not in plans:
                raise ConfigError(f"{where}: unknown plan {name!r}; declare it under [[plans]]")
            return plans[name].id

        customers = _ByName(session.scalars(select(Customer)))
        noted: list[tuple[str, Customer, bool, bool]] = []
        for c in pool.customers:
            cust = customers.get(c.name)
            created = cust is None
            if cust is None:
                cust = Customer(name=c.name)
                session.add(cust)
            values = {"name": c.name, "plan_id": plan_id(c.plan, f"customer {c.name!r}")}
            values["region"] = c.region
            noted.append((c.name, cust, created, _apply_values(cust, values)))
        session.flush()
        # A customer that lists sending_domains has exactly those; one that does not keeps its own.
        wanted = {
            cust.id: c.sending_domains
            for c, (_, cust, _, _) in zip(pool.customers, noted, strict=True)
            if c.sending_domains is not None
        }
        try:
            moved = set_domains(conn, wanted, actor="pool file", now=datetime.now(UTC))
        except ConflictError as exc:
            raise ConfigError(f"sending_domains: {exc.message}") from None
        for name, cust, created, changed in noted:
            _note(report, f"customer {name}", created, changed or cust.id in moved)

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
    apply_providers(
        conn, report, pool.provider_groups, pool.provider_limits, [d.name for d in decls], now
    )
    apply_backoff_rules(conn, pool.backoff_rules, report, now)  # after the groups it names
    capacity_added(conn, servers=roomier, plans=joined, now=now)
    if report.changed or report.drift:
        summary = {
            "created": report.created,
            "updated": report.updated,
            "drift": [f"{d.what}: {d.field}" for d in report.drift],
            "forced": force,
        }
        write_audit(conn, actor=ACTOR, action="pool.apply", now=now, detail=summary)
    return report
