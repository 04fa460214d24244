"""The admin pages: server-rendered HTML beside the JSON API, signed-in admins only."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sendpool.runtime import Runtime
from sendpool.web.render import HERE
from sendpool.web.routes import (
    auth,
    campaigns,
    distribution,
    plans,
    pool,
    servers,
    suppressions,
)
from sendpool.web.session import Sessions, session_key


def install_admin_pages(app: FastAPI, rt: Runtime) -> None:
    """Mount the pages at /admin (and / as the way in), with their CSS and JS."""
    app.state.admin_sessions = Sessions(session_key(rt.settings))
    for module in (auth, pool, servers, plans, campaigns, distribution, suppressions):
        app.include_router(module.router)
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static")
