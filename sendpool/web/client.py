"""Where a request comes from: the socket's peer, or behind trusted proxies X-Forwarded-For.

X-Forwarded-For is believed only when the peer is one of SENDPOOL_TRUSTED_PROXIES:
anyone else could write any address there and sign-in throttling would count
the wrong client. Behind trusted proxies the client is the last hop that is
not a trusted proxy, read from the right: each proxy appends the peer it saw,
so hops left of the first untrusted one may be made up by the client.
"""

from __future__ import annotations

import functools
import ipaddress

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(trusted: str) -> tuple[Network, ...]:
    entries = (e.strip() for e in trusted.split(","))
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries if e)


def _parse(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return (ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else ip


def _trusted(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def client_address(request: Request, trusted_proxies: str) -> str:
    peer_text = request.client.host if request.client else ""
    peer = _parse(peer_text)
    networks = _networks(trusted_proxies)
    if peer is None or not networks or not _trusted(peer, networks):
        return str(peer) if peer is not None else peer_text[:64]
    hops = [h for value in request.headers.getlist("x-forwarded-for") for h in value.split(",")]
    nearest = peer
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            break  # a hop a trusted proxy did not write: keep the last one it did
        if not _trusted(ip, networks):
            return str(ip)
        nearest = ip
    return str(nearest)


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]
