"""/admin/.../send-waiting-now: mail waiting for a window looks for a server again, at once."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.messages.waiting import send_waiting_now_for

router = APIRouter(tags=["admin: waiting mail"], route_class=JsonBodyRoute)


class WokenOut(BaseModel):
    woken: int  # waiting messages made due now; those that still find no room wait again


@router.post("/campaigns/{uid}/send-waiting-now", response_model=WokenOut)
async def campaign_send_waiting_now(admin: Admin, rt: RuntimeDep, now: Now, uid: str) -> WokenOut:
    """Make the campaign's waiting messages due now (a paused campaign is refused: 409)."""
    return WokenOut(woken=await rt.db.run(send_waiting_now_for, campaign=uid, now=now))


@router.post("/plans/{uid}/send-waiting-now", response_model=WokenOut)
async def plan_send_waiting_now(admin: Admin, rt: RuntimeDep, now: Now, uid: str) -> WokenOut:
    """Make the waiting messages of every campaign and customer under the plan due now."""
    return WokenOut(woken=await rt.db.run(send_waiting_now_for, plan=uid, now=now))
