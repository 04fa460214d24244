"""The FastAPI application: routers, error mapping, body handling, OpenAPI at /docs.

Admin routes sit behind an admin check on their router and customer routes
behind a customer check, so a route added later cannot forget either.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

import sendpool
from sendpool.api.body import BodyLimit
from sendpool.api.deps import get_admin, get_customer
from sendpool.api.errors import install_error_handlers
from sendpool.api.routes import (
    campaigns,
    customers,
    lists,
    me,
    messages,
    operations,
    ops,
    plans,
    servers,
)
from sendpool.api.schemas.common import problem_responses
from sendpool.runtime import Runtime
from sendpool.web import install_admin_pages

API = "/api/v1"
DESCRIPTION = """\
Send campaigns and transactional mail through a rotating pool of sending servers.

Authenticate with `Authorization: Bearer <token>`; make tokens with
`sendpool token create --admin --name NAME` or `--customer UID --name NAME`.
Admin tokens reach `/api/v1/admin/*`; customer tokens reach only their own
lists, subscribers, campaigns and messages. Request bodies are JSON, read as
JSON whatever their Content-Type label says.
"""


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="sendpool",
        version=sendpool.__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = rt
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
    for module in (servers, plans, customers, operations):
        admin.include_router(module.router)
    tenant = APIRouter(
        dependencies=[Depends(get_customer)],
        responses=problem_responses(401, 403, 404, 409, 413, 422),
    )
    for module in (lists, campaigns, messages):
        tenant.include_router(module.router)
    app.include_router(admin, prefix=API)
    app.include_router(tenant, prefix=API)
    app.include_router(me.router, prefix=API, responses=problem_responses(401, 413, 422))
    app.include_router(ops.router)
    install_admin_pages(app, rt)  # HTML for people at /admin, beside the JSON API
    return app
