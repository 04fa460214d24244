"""/admin/sending-servers: the pool's servers, their stats, connection checks and test emails."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.common import Deleted
from sendpool.api.schemas.servers import (
    CheckOut,
    DomainStatsOut,
    ServerCreate,
    ServerOut,
    ServerPatch,
    ServerStatsOut,
    TestEmailBody,
    TestEmailOut,
)
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.servers import checks as server_checks
from sendpool.services.servers import commands as server_commands
from sendpool.services.servers import queries as server_queries
from sendpool.services.servers import stats
from sendpool.services.servers.mailboxes import HandlerView, handlers_by_uid
from sendpool.services.servers.queries import ServerDetail

router = APIRouter(
    prefix="/sending-servers", tags=["admin: sending servers"], route_class=JsonBodyRoute
)


def render(detail: ServerDetail, handlers: dict[str, HandlerView]) -> dict[str, Any]:
    """Flat, as in pool.toml: the type's settings beside the common keys; mailboxes nested."""
    out = {f.name: getattr(detail, f.name) for f in dataclasses.fields(detail)}
    settings = out.pop("settings")
    boxes = {h: {**v.settings, "password_set": v.password_set} for h, v in handlers.items()}
    return {**settings, **out, **boxes}


async def _rendered(rt: RuntimeDep, details: list[ServerDetail]) -> list[dict[str, Any]]:
    handlers = await rt.db.read(handlers_by_uid, [d.uid for d in details])
    return [render(d, handlers[d.uid]) for d in details]


@router.get("", response_model=list[ServerOut])
async def list_servers(_: Admin, rt: RuntimeDep) -> list[dict[str, Any]]:
    return await _rendered(rt, await rt.db.read(server_queries.list_server_details, rt.box))


@router.post("", response_model=ServerOut, status_code=201)
async def create_server(
    body: ServerCreate, admin: Admin, rt: RuntimeDep, now: Now
) -> dict[str, Any]:
    """A new server; its bounce and FBL mailboxes may be given too (passwords write-only)."""
    fields = body.model_dump(exclude_unset=True)
    detail = await rt.db.run(
        server_commands.create_server, rt.box, fields=fields, actor=admin.actor, now=now
    )
    return (await _rendered(rt, [detail]))[0]


@router.get("/{uid}", response_model=ServerOut)
async def get_server(uid: str, _: Admin, rt: RuntimeDep) -> dict[str, Any]:
    return (await _rendered(rt, [await rt.db.read(server_queries.get_server, rt.box, uid)]))[0]


@router.patch("/{uid}", response_model=ServerOut)
async def update_server(
    uid: str, body: ServerPatch, admin: Admin, rt: RuntimeDep, now: Now
) -> dict[str, Any]:
    """Change any keys; a mailbox given is merged with the stored one (null removes it)."""
    changes = body.model_dump(exclude_unset=True)
    detail = await rt.db.run(
        server_commands.update_server, rt.box, uid, changes=changes, actor=admin.actor, now=now
    )
    return (await _rendered(rt, [detail]))[0]


@router.delete("/{uid}", response_model=Deleted)
async def delete_server(uid: str, admin: Admin, rt: RuntimeDep, now: Now) -> Deleted:
    """Delete a server without history; a server that has sent (or bounced) is disabled."""
    uid, outcome = await rt.db.run(server_commands.delete_server, uid, actor=admin.actor, now=now)
    return Deleted(uid=uid, outcome=outcome)


@router.get("/{uid}/stats", response_model=ServerStatsOut)
async def server_stats(uid: str, _: Admin, rt: RuntimeDep, now: Now) -> ServerStatsOut:
    s = await rt.db.read(stats.server_stats, rt.box, uid, now)
    skip = {"usage", "by_sending_domain"}
    common = {f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name not in skip}
    domains = [
        DomainStatsOut(
            domain=d.domain,
            sent=d.activity.sent,
            bounces=d.activity.bounces,
            bounce_rate=d.activity.bounce_rate,
            complaints=d.activity.complaints,
            complaint_rate=d.activity.complaint_rate,
        )
        for d in s.by_sending_domain
    ]
    return ServerStatsOut(**common, **dataclasses.asdict(s.usage), by_sending_domain=domains)


@router.post("/{uid}/test-connection", response_model=CheckOut)
async def test_connection(uid: str, _: Admin, rt: RuntimeDep) -> CheckOut:
    """Connect and authenticate now; the result is recorded as the server's health."""
    s = rt.settings
    check = await server_checks.test_connection(
        rt.db, rt.box, uid, timeout=s.send_timeout, interval=s.health_check_interval
    )
    return CheckOut(ok=check.ok, detail=check.detail, facts=check.facts, health=check.health)


@router.post("/{uid}/test-email", response_model=TestEmailOut)
async def test_email(uid: str, body: TestEmailBody, _: Admin, rt: RuntimeDep) -> TestEmailOut:
    """Send one test email through this server (outside the pool's quotas)."""
    sent = await server_checks.test_email(
        rt.db, rt.box, uid, to=body.to, from_email=body.from_email, timeout=rt.settings.send_timeout
    )
    return TestEmailOut(**dataclasses.asdict(sent))
