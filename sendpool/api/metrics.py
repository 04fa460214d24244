"""/metrics: the workers' counters, plus gauges read from the database at scrape time.

Counters live in each process that sends; what the database knows (messages
by status, queue depth, server health and usage) is read when scraped, so
every process that serves /metrics reports the same truth. Message counts
come from the rollups the database keeps (store/rollups.py), so a scrape
costs the same at any size. With
SENDPOOL_METRICS_TOKEN set, every scrape must carry it as a bearer token.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, make_asgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.services.operations.backoffs import ActiveBackoff
from sendpool.services.operations.observability import MetricsSnapshot

HEALTH_STATES = (
    ServerHealth.HEALTHY,
    ServerHealth.DEGRADED,
    ServerHealth.UNKNOWN,
    ServerStatus.DISABLED,
    ServerStatus.PAUSED,
)


class SnapshotCollector(Collector):
    def __init__(self, snap: MetricsSnapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        messages = GaugeMetricFamily(
            "sendpool_messages_by_status",
            "Messages by status and by the server last used, from the database's rollups; "
            "sent and failed include messages retention has deleted since.",
            labels=["status", "server"],
        )
        for (status, server), n in sorted(s.messages.items()):
            messages.add_metric([status, server], n)
        yield messages
        queue = GaugeMetricFamily(
            "sendpool_queue_depth",
            "Pending messages: due now, or waiting (window, back-off or pause).",
            labels=["state"],
        )
        queue.add_metric(["due"], s.queue_due)
        queue.add_metric(["waiting"], s.queue_waiting)
        yield queue
        health = GaugeMetricFamily(
            "sendpool_server_health",
            "1 for each server's current state (healthy, degraded, unknown, disabled), else 0.",
            labels=["server", "type", "state"],
        )
        gauges = {
            name: GaugeMetricFamily(f"sendpool_server_{name}", text, labels=["server"])
            for name, text in (
                ("day_used", "Units reserved in the server's current day window."),
                ("day_cap", "The server's effective daily cap (warm-up included)."),
                ("hour_used", "Units reserved in the server's current hour window."),
                ("hour_cap", "The server's hourly cap (the daily cap when it has none)."),
            )
        }
        for srv in s.servers:
            state = srv.health if srv.status == ServerStatus.ACTIVE else srv.status
            for candidate in HEALTH_STATES:
                health.add_metric([srv.name, srv.type, candidate], 1 if candidate == state else 0)
            for name, family in gauges.items():
                family.add_metric([srv.name], getattr(srv.usage, name))
        yield health
        yield from gauges.values()
        yield backoff_gauge(s.backoffs)


def backoff_gauge(backoffs: list[ActiveBackoff]) -> Metric:
    """The share of its rate each backed-off server x provider group may use now (absent: all)."""
    family = GaugeMetricFamily(
        "sendpool_backoff_factor",
        "Share of the server's rate to a provider group allowed by its adaptive back-off "
        "(1 when none is engaged, so no series).",
        labels=["server", "group", "rule"],
    )
    for b in backoffs:
        family.add_metric([b.server, b.group, b.rule], b.factor)
    return family


def render_metrics(snap: MetricsSnapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(REGISTRY) + generate_latest(registry)


# Far longer than any token; a longer header is refused before it is compared.
MAX_AUTHORIZATION = 1024
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sendpool metrics"'}


def scrape_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a scrape may read /metrics: always without a token, else ``Bearer <token>``.

    The scheme is matched without regard to case (RFC 7235 §2.1); the token is
    compared in constant time, so a wrong guess says nothing of how near it was.
    """
    if not token:
        return True
    if authorization is None or len(authorization) > MAX_AUTHORIZATION:
        return False
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


Scope = dict[str, Any]
Receive = Any
Send = Any


def counters_app(token: str | None) -> Any:
    """The process's own counters as an ASGI app (``sendpool worker --metrics-port``)."""
    inner = make_asgi_app(REGISTRY)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            raw = headers.get(b"authorization")
            if not scrape_allowed(raw.decode("latin-1") if raw is not None else None, token):
                await _unauthorized(send)
                return
        await inner(scope, receive, send)

    return app


async def _unauthorized(send: Send) -> None:
    body = b"a bearer token is required: send Authorization: Bearer <SENDPOOL_METRICS_TOKEN>\n"
    headers = [(k.lower().encode(), v.encode()) for k, v in CHALLENGE.items()]
    headers += [(b"content-type", b"text/plain; charset=utf-8")]
    headers += [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
