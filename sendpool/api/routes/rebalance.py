"""/admin/rebalance: apply the daily rebalancing policy now, or only show it."""

from __future__ import annotations

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.admin import (
    RebalanceLine,
    RebalanceOut,
)
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.operations import rebalance

router = APIRouter(tags=["admin: rebalance"], route_class=JsonBodyRoute)


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
