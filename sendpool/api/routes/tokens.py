"""/admin/tokens: issue, list and revoke API tokens."""

from __future__ import annotations

from fastapi import APIRouter

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.admin import (
    IssuedTokenOut,
    TokenCreate,
    TokenOut,
)
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access import tokens
from sendpool.services.access.tokens import IssuedToken, TokenInfo

router = APIRouter(tags=["admin: tokens"], route_class=JsonBodyRoute)


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
