"""What API routes depend on: who is calling (checked once, here), and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from sendpool.http.context import Now, RuntimeDep
from sendpool.services.access.tokens import Principal, authenticate
from sendpool.services.errors import AuthError

_bearer = HTTPBearer(auto_error=False, description="A token from `sendpool token create`.")


async def get_principal(
    rt: RuntimeDep,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    return await rt.db.run(authenticate, credentials.credentials, now)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: PrincipalDep) -> Principal:
    if principal.kind != "admin":
        raise HTTPException(403, "this route needs an admin token")
    return principal


async def get_customer(principal: PrincipalDep) -> Principal:
    if principal.kind != "customer" or principal.customer_id is None:
        raise HTTPException(403, "this route needs a customer token; admins use /api/v1/admin")
    return principal


Admin = Annotated[Principal, Depends(get_admin)]
Customer = Annotated[Principal, Depends(get_customer)]


async def get_customer_id(principal: Customer) -> int:
    assert principal.customer_id is not None  # get_customer made sure
    return principal.customer_id


CustomerId = Annotated[int, Depends(get_customer_id)]


Limit = Annotated[int, Query(ge=1, le=500, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Search = Annotated[
    str | None,
    Query(
        max_length=320,
        description="The start of the address, any case; the whole address with match=exact.",
    ),
]
