"""/admin/audit-log: who changed what, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin, Limit, Offset
from sendpool.api.schemas.admin import (
    AuditOut,
)
from sendpool.http.context import RuntimeDep
from sendpool.services.operations import audit
from sendpool.services.operations.audit import AuditRecord

router = APIRouter(tags=["admin: audit"], route_class=JsonBodyRoute)


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
