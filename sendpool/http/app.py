"""The application: the JSON API and the admin pages side by side, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI

import sendpool
from sendpool.api.routers import install_api
from sendpool.runtime import Runtime
from sendpool.web import install_admin_pages
from sendpool.web.routes import unsubscribe

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
    install_api(app, rt)
    install_admin_pages(app, rt)  # HTML for people at /admin, beside the JSON API
    app.include_router(unsubscribe.router)  # /u/TOKEN: for recipients, no sign-in
    return app
