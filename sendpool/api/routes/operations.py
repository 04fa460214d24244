"""/admin/pool, /admin/audit-log, /admin/tokens and /admin/rebalance."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin, Limit, Now, Offset, RuntimeDep
from sendpool.api.schemas.admin import (
    AuditOut,
    IssuedTokenOut,
    RebalanceLine,
    RebalanceOut,
    TokenCreate,
    TokenOut,
)
from sendpool.api.schemas.servers import PoolOut, PoolServerOut
from sendpool.services import audit, rebalance, stats, tokens
from sendpool.services.audit import AuditRecord
from sendpool.services.tokens import IssuedToken, TokenInfo

router = APIRouter(tags=["admin: operations"], route_class=JsonBodyRoute)


@router.get("/pool", response_model=PoolOut)
async def pool(_: Admin, rt: RuntimeDep, now: Now) -> PoolOut:
    """Composition by type and health; each server's hour and day usage against its caps."""
    p = await rt.db.run(stats.pool_overview, rt.box, now)
    servers = [
        PoolServerOut(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "usage"},
            **dataclasses.asdict(s.usage),
        )
        for s in p.servers
    ]
    return PoolOut(by_type=p.by_type, by_health=p.by_health, servers=servers)


@router.get("/audit-log", response_model=list[AuditOut])
async def audit_log(
    _: Admin,
    rt: RuntimeDep,
    limit: Limit = 50,
    offset: Offset = 0,
    server: Annotated[str | None, Query(max_length=64, description="Server uid.")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="An action, or a prefix like `rebalance.`")
    ] = None,
) -> list[AuditRecord]:
    """Newest first: every rebalancing change and every admin write."""
    return await rt.db.run(
        audit.list_audit, server_uid=server, action=action, limit=limit, offset=offset
    )


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(_: Admin, rt: RuntimeDep) -> list[TokenInfo]:
    return await rt.db.run(tokens.list_tokens)


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201)
async def create_token(body: TokenCreate, admin: Admin, rt: RuntimeDep, now: Now) -> IssuedToken:
    """The token is in this answer only; sendpool keeps nothing but its hash."""
    return await rt.db.run(
        tokens.create_token, name=body.name, customer=body.customer, actor=admin.actor, now=now
    )


@router.delete("/tokens/{uid}", response_model=TokenOut)
async def revoke_token(uid: str, admin: Admin, rt: RuntimeDep, now: Now) -> TokenInfo:
    return await rt.db.run(tokens.revoke_token, uid, actor=admin.actor, now=now)


@router.post("/rebalance", response_model=RebalanceOut)
async def run_rebalance(
    admin: Admin, rt: RuntimeDep, now: Now, dry_run: bool = False
) -> RebalanceOut:
    """Apply the daily rebalancing policy now (or only show it, with dry_run=true)."""
    run = await rt.db.run(
        rebalance.rebalance,
        policy=rebalance.policy_from(rt.settings),
        now=now,
        dry_run=dry_run,
        actor=admin.actor,
    )
    lines = [
        RebalanceLine(
            uid=d.uid,
            name=d.name,
            action=d.decision.action.value,
            old_limit=d.decision.old_limit,
            new_limit=d.decision.new_limit,
            sent_last_24h=d.activity.sent,
            bounces_last_24h=d.activity.bounces,
            bounce_rate_last_24h=d.activity.bounce_rate,
            reason=d.decision.reason,
        )
        for d in run.decisions
    ]
    return RebalanceOut(at=run.at, dry_run=run.dry_run, servers=lines)
