"""Where `serve` puts /metrics and who may read it, as the doctor and `serve` both judge it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sendpool.config import Settings
from sendpool.services.operations.doctor_checks import Check, Status


def split_bind(value: str) -> tuple[str, int]:
    """``127.0.0.1:9108`` or ``[::1]:9108`` as (host, port); Settings checked the shape."""
    host, _, port = value.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def is_loopback(host: str) -> bool:
    """Only this machine can connect: 127.0.0.0/8, ::1 or the name localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may well resolve to an outside address


def check_metrics(settings: Settings) -> Check | None:
    """Whether `serve` would hand /metrics to anyone who can reach it.

    With SENDPOOL_METRICS_BIND, /metrics is on that address. Without it, it is
    on the API port, whose address is `serve --host`; that is not a setting, so
    SENDPOOL_PUBLIC_URL stands for it: a public URL off this machine means the
    API, /metrics with it, is reached from elsewhere. None when nothing is set
    and everything stays on loopback.
    """
    name, token, bind = "metrics", settings.metrics_token, settings.metrics_bind
    if token:
        where = f"on {bind}" if bind else "on the API port"
        return Check(name, Status.OK, f"/metrics {where} needs the bearer token")
    advice = (
        "set SENDPOOL_METRICS_TOKEN and give Prometheus the same token "
        "(authorization: credentials_file), or SENDPOOL_METRICS_BIND=127.0.0.1:9108"
    )
    if bind:
        if is_loopback(split_bind(bind)[0]):
            return Check(name, Status.OK, f"/metrics on {bind}, reachable from this machine only")
        detail = f"/metrics on {bind} needs no token: anyone who can reach it reads it"
        return Check(name, Status.WARN, detail, advice)
    host = urlsplit(settings.public_url).hostname or ""
    if is_loopback(host):
        return None
    detail = (
        f"/metrics on the API port needs no token, and SENDPOOL_PUBLIC_URL says the API "
        f"is reached at {host}: unless the proxy in front keeps /metrics out, anyone reads it"
    )
    return Check(name, Status.WARN, detail, advice)
