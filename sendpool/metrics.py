"""Prometheus metrics the workers update; ``/metrics`` and ``worker --metrics-port`` expose them.

Counts that live in the database (queue depth, server health) are read at
scrape time by a collector in the API, so every process reports the truth.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "sendpool_messages",
    "Delivery attempts by result and server (sent, failed, deferred, requeued, waiting).",
    ["status", "server"],
)
PICKS = Counter("sendpool_picks", "Servers picked by the dispatcher, per plan.", ["plan", "server"])
DENIALS = Counter(
    "sendpool_skips",
    "Servers left out of a pick or denied at reservation, by reason code.",
    ["reason"],
)
REPORTS = Counter(
    "sendpool_inbound_reports",
    "Reports that came back (bounces, complaints, ...), by what became of them.",
    ["outcome"],
)
WEBHOOK_REQUESTS = Counter(
    "sendpool_webhook_requests",
    "Vendor webhook requests, by vendor and what became of them (accepted, refused_<status>).",
    ["vendor", "outcome"],
)
WEBHOOK_EVENTS = Counter(
    "sendpool_webhook_events",
    "Vendor webhook events accepted, by vendor and what became of them.",
    ["vendor", "outcome"],
)
AUTO_PAUSES = Counter(
    "sendpool_server_auto_pauses",
    "Servers paused by sendpool because a bounce or complaint rate crossed its threshold.",
    ["server"],
)
STICKY_FALLBACKS = Counter(
    "sendpool_sticky_fallbacks",
    "Messages a sticky selector dealt past their domain's server, which was out, per plan.",
    ["plan"],
)
SEND_LATENCY = Histogram(
    "sendpool_send_latency_seconds",
    "Time to hand one message to a server, by server type.",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@functools.lru_cache(maxsize=4096)
def message_counter(status: str, server: str) -> Counter:
    """The labelled child, looked up once: ``labels()`` costs more than ``inc()``."""
    return MESSAGES.labels(status, server)


@functools.lru_cache(maxsize=64)
def latency(server_type: str) -> Histogram:
    return SEND_LATENCY.labels(server_type)
