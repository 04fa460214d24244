"""/admin/pool: the pool at a glance, every server's windows against its caps."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.backoffs import BackoffOut
from sendpool.api.schemas.provider_limits import GroupLimitOut
from sendpool.api.schemas.servers import CapHitOut, PlanStoryOut, PoolOut, PoolServerOut, ShareOut
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.operations.backoffs import active_backoffs
from sendpool.services.operations.explain import PlanStory, plan_stories
from sendpool.services.operations.provider_limits import group_limits
from sendpool.services.servers import stats as server_stats

router = APIRouter(tags=["admin: pool"], route_class=JsonBodyRoute)


@router.get("/pool", response_model=PoolOut)
async def pool(_: Admin, rt: RuntimeDep, now: Now) -> PoolOut:
    """Composition by type and health; each server's usage; each plan's split and forecast."""
    p = await rt.db.read(server_stats.pool_overview, rt.box, now)
    stories = await rt.db.read(plan_stories, now)
    servers = [
        PoolServerOut(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "usage"},
            **dataclasses.asdict(s.usage),
        )
        for s in p.servers
    ]
    plans = [_story(s) for s in stories]
    backoffs = [BackoffOut(**dataclasses.asdict(b)) for b in await rt.db.read(active_backoffs, now)]
    limits = [GroupLimitOut(**dataclasses.asdict(v)) for v in await rt.db.read(group_limits)]
    return PoolOut(
        by_type=p.by_type,
        by_health=p.by_health,
        servers=servers,
        plans=plans,
        backoffs=backoffs,
        provider_limits=limits,
    )


def _story(s: PlanStory) -> PlanStoryOut:
    return PlanStoryOut(
        plan=s.plan,
        pattern=s.verdict.pattern.value,
        verdict=s.verdict.words,
        shares=[
            ShareOut(server=x.name, observed_percent=x.observed, predicted_percent=x.predicted)
            for x in s.verdict.shares
        ],
        forecast=s.forecast.sentence,
        cap_hits=[CapHitOut(server=h.server, at=h.at) for h in s.forecast.hits],
        waiting=s.forecast.waiting,
        waiting_until=s.forecast.until,
    )
