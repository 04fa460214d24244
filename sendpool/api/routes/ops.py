"""/healthz and /metrics: for load balancers and Prometheus, no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from sendpool.api.body import JsonBodyRoute
from sendpool.api.metrics import render_metrics
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.operations.observability import database_ok, metrics_snapshot

router = APIRouter(tags=["operations"], route_class=JsonBodyRoute)


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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(rt: RuntimeDep, now: Now) -> Response:
    """Prometheus text format: pipeline counters and database gauges."""
    snap = await rt.db.run(metrics_snapshot, rt.box, now)
    return Response(render_metrics(snap), media_type=CONTENT_TYPE_LATEST)
