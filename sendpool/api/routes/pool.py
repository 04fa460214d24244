"""/admin/pool: the pool at a glance, every server's windows against its caps."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.servers import PoolOut, PoolServerOut
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.servers import stats as server_stats

router = APIRouter(tags=["admin: pool"], route_class=JsonBodyRoute)


@router.get("/pool", response_model=PoolOut)
async def pool(_: Admin, rt: RuntimeDep, now: Now) -> PoolOut:
    """Composition by type and health; each server's hour and day usage against its caps."""
    p = await rt.db.run(server_stats.pool_overview, rt.box, now)
    servers = [
        PoolServerOut(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name != "usage"},
            **dataclasses.asdict(s.usage),
        )
        for s in p.servers
    ]
    return PoolOut(by_type=p.by_type, by_health=p.by_health, servers=servers)
