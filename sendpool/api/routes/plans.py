"""/admin/plans: plans and the servers in them."""

from __future__ import annotations

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.admin import PlanCreate, PlanOut, PlanPatch
from sendpool.api.schemas.common import Deleted
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.tenancy import plans
from sendpool.services.tenancy.plans import PlanDetail

router = APIRouter(prefix="/plans", tags=["admin: plans"], route_class=JsonBodyRoute)


@router.get("", response_model=list[PlanOut])
async def list_plans(_: Admin, rt: RuntimeDep) -> list[PlanDetail]:
    return await rt.db.run(plans.list_plans)


@router.post("", response_model=PlanOut, status_code=201)
async def create_plan(body: PlanCreate, admin: Admin, rt: RuntimeDep, now: Now) -> PlanDetail:
    return await rt.db.run(
        plans.create_plan,
        name=body.name,
        burst_threshold=body.burst_threshold,
        servers=body.servers,
        selector=body.selector,
        weights=body.weights,
        actor=admin.actor,
        now=now,
    )


@router.get("/{uid}", response_model=PlanOut)
async def get_plan(uid: str, _: Admin, rt: RuntimeDep) -> PlanDetail:
    return await rt.db.run(plans.get_plan, uid)


@router.patch("/{uid}", response_model=PlanOut)
async def update_plan(
    uid: str, body: PlanPatch, admin: Admin, rt: RuntimeDep, now: Now
) -> PlanDetail:
    changes = body.model_dump(exclude_unset=True)
    return await rt.db.run(plans.update_plan, uid, changes=changes, actor=admin.actor, now=now)


@router.delete("/{uid}", response_model=Deleted)
async def delete_plan(uid: str, admin: Admin, rt: RuntimeDep, now: Now) -> Deleted:
    """Refused (409) while customers, region rules or unfinished campaigns use the plan."""
    deleted = await rt.db.run(plans.delete_plan, uid, actor=admin.actor, now=now)
    return Deleted(uid=deleted, outcome="deleted")


@router.put("/{uid}/sending-servers/{server_uid}", response_model=PlanOut)
async def attach_server(
    uid: str, server_uid: str, admin: Admin, rt: RuntimeDep, now: Now
) -> PlanDetail:
    """Put the server in the plan; doing it again changes nothing."""
    return await rt.db.run(
        plans.attach_server, uid, server_uid, attach=True, actor=admin.actor, now=now
    )


@router.delete("/{uid}/sending-servers/{server_uid}", response_model=PlanOut)
async def detach_server(
    uid: str, server_uid: str, admin: Admin, rt: RuntimeDep, now: Now
) -> PlanDetail:
    """Take the server out of the plan; the server itself stays."""
    return await rt.db.run(
        plans.attach_server, uid, server_uid, attach=False, actor=admin.actor, now=now
    )
