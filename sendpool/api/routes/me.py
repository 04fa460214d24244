"""/me: who a token is, for admins and customers alike."""

from __future__ import annotations

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import PrincipalDep
from sendpool.api.schemas.tenant import Me

router = APIRouter(tags=["account"], route_class=JsonBodyRoute)


@router.get("/me", response_model=Me)
async def me(principal: PrincipalDep) -> Me:
    """Who this token is: an admin, or which customer."""
    return Me(
        kind=principal.kind,
        token_name=principal.token_name,
        customer_uid=principal.customer_uid,
        customer_name=principal.customer_name,
    )
