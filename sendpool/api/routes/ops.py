"""/healthz and /metrics: for load balancers and Prometheus.

/healthz is always open. /metrics is open too unless SENDPOOL_METRICS_TOKEN is
set (then it needs that bearer token); with SENDPOOL_METRICS_BIND it is served
on that address only (``metrics_router``) and is not found on the API port.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from sendpool.api.body import JsonBodyRoute
from sendpool.api.metrics import CHALLENGE, render_metrics, scrape_allowed
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.operations.observability import database_ok, metrics_snapshot

router = APIRouter(tags=["operations"], route_class=JsonBodyRoute)
# The same /metrics alone, for the listener on SENDPOOL_METRICS_BIND.
metrics_router = APIRouter()

METRICS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
    401: {"description": "SENDPOOL_METRICS_TOKEN is set and the bearer token is not it."},
}


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(rt: RuntimeDep, response: Response) -> Health:
    """200 while the database answers; 503 when it does not."""
    try:
        ok = await rt.db.run(database_ok)
    except Exception:  # any failure to reach the database is "not healthy"
        ok = False
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "unavailable", database="ok" if ok else "unreachable")


async def _scrape(request: Request, rt: RuntimeDep, now: Now) -> Response:
    if not scrape_allowed(request.headers.get("authorization"), rt.settings.metrics_token):
        raise HTTPException(401, "a bearer token is required for /metrics", headers=CHALLENGE)
    snap = await rt.db.read(metrics_snapshot, rt.box, now)
    return Response(render_metrics(snap), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/metrics",
    response_class=Response,
    responses={**METRICS_RESPONSES, 404: {"description": "Served on SENDPOOL_METRICS_BIND."}},
)
async def metrics(request: Request, rt: RuntimeDep, now: Now) -> Response:
    """Prometheus text format: pipeline counters and database gauges."""
    if rt.settings.metrics_bind:
        # Not a hint of where it went: the API port may face the world.
        raise HTTPException(404, "Not Found")
    return await _scrape(request, rt, now)


@metrics_router.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
async def metrics_only(request: Request, rt: RuntimeDep, now: Now) -> Response:
    """Prometheus text format, on the metrics listener."""
    return await _scrape(request, rt, now)
