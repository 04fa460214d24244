"""The admin pages: server-rendered HTML beside the JSON API, signed-in admins only."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sendpool.runtime import Runtime
from sendpool.web.render import HERE
from sendpool.web.routes import (
    audit,
    auth,
    campaigns,
    customers,
    distribution,
    events,
    fallback,
    plans,
    pool,
    region_rules,
    servers,
    suppressions,
    tokens,
)
from sendpool.web.session import Sessions, session_key


def install_admin_pages(app: FastAPI, rt: Runtime) -> None:
    """Mount the pages at /admin (and / as the way in), with their CSS and JS."""
    app.state.admin_sessions = Sessions(session_key(rt.settings))
    for module in (auth, pool, servers, plans, campaigns, distribution, suppressions):
        app.include_router(module.router)
    for module in (customers, region_rules, tokens, audit, events):
        app.include_router(module.router)
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static")
    app.include_router(fallback.router)  # last: only paths nothing above answers
