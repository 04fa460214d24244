"""The JSON API's routers, error mapping and body handling, mounted on the app.

Admin routes sit behind an admin check on their router and customer routes
behind a customer check, so a route added later cannot forget either.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from sendpool.api.body import BodyLimit
from sendpool.api.deps import get_admin, get_customer
from sendpool.api.errors import install_error_handlers
from sendpool.api.routes import (
    audit,
    campaigns,
    customers,
    events,
    lists,
    me,
    messages,
    ops,
    plans,
    pool,
    rebalance,
    servers,
    suppressions,
    tokens,
    waiting,
    webhook_info,
    webhooks,
)
from sendpool.api.schemas.common import problem_responses
from sendpool.runtime import Runtime

API = "/api/v1"


def install_api(app: FastAPI, rt: Runtime) -> None:
    """Mount /api/v1 (admin and customer routers), /healthz and /metrics, with their errors."""
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_json=rt.settings.api_max_body_bytes,
        max_upload=rt.settings.api_max_upload_bytes,
    )
    admin = APIRouter(
        prefix="/admin",
        dependencies=[Depends(get_admin)],
        responses=problem_responses(401, 403, 404, 409, 413, 422),
    )
    for module in (servers, webhook_info, plans, customers, pool, audit, tokens, rebalance, events):
        admin.include_router(module.router)
    admin.include_router(waiting.router)
    admin.include_router(suppressions.admin_router)
    tenant = APIRouter(
        dependencies=[Depends(get_customer)],
        responses=problem_responses(401, 403, 404, 409, 413, 422),
    )
    for module in (lists, campaigns, messages, suppressions):
        tenant.include_router(module.router)
    app.include_router(admin, prefix=API)
    app.include_router(tenant, prefix=API)
    app.include_router(me.router, prefix=API, responses=problem_responses(401, 413, 422))
    app.include_router(ops.router)
    app.include_router(webhooks.router)  # vendors prove themselves by their own schemes
