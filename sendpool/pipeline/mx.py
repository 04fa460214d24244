"""MX hosts per recipient domain, for provider groups matched by MX pattern (core/providers.py).

A batch never waits for DNS: ``hosts`` answers from the cache at once, and a
domain not in it starts one lookup in the background and has no group until
that lookup lands (its next batch has it). Answers are kept for their TTL,
clipped to [``min_ttl``, ``max_ttl``]; a domain with no MX, or no such domain,
is kept as having none for ``negative_ttl`` (RFC 2308 negative caching, with
our own bound); a lookup that failed (timeout, SERVFAIL) is kept as none for
``error_ttl``, so a broken resolver is asked once a minute per domain, not
once per message. The cache holds at most ``max_entries`` domains, the least
recently used leaving first, and at most ``max_pending`` lookups run at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

from sendpool.config import Settings

log = logging.getLogger("sendpool.mx")


class MxCache:
    def __init__(
        self,
        *,
        nameservers: Sequence[str] = (),
        port: int = 53,
        timeout: float = 2.0,
        max_entries: int = 10_000,
        negative_ttl: float = 300.0,
        error_ttl: float = 60.0,
        min_ttl: float = 60.0,
        max_ttl: float = 86_400.0,
        max_pending: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        configure = not nameservers
        self.resolver = dns.asyncresolver.Resolver(configure=configure)
        if nameservers:
            self.resolver.nameservers = list(nameservers)
            self.resolver.port = port
        self.resolver.lifetime = timeout
        self.resolver.timeout = timeout
        self.max_entries = max_entries
        self.negative_ttl, self.error_ttl = negative_ttl, error_ttl
        self.min_ttl, self.max_ttl = min_ttl, max_ttl
        self.max_pending = max_pending
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[tuple[str, ...]]] = {}

    def hosts(self, domain: str) -> tuple[str, ...] | None:
        """The domain's MX hosts by preference if known and fresh; else None, and look it up."""
        entry = self._entries.get(domain)
        if entry is not None and entry[0] > self.clock():
            self._entries.move_to_end(domain)
            return entry[1]
        if domain not in self._pending and len(self._pending) < self.max_pending:
            task = asyncio.get_running_loop().create_task(self.lookup(domain))
            self._pending[domain] = task
            task.add_done_callback(lambda _t: self._pending.pop(domain, None))
        return None

    async def lookup(self, domain: str) -> tuple[str, ...]:
        """Ask DNS now and keep the answer; never raises for a DNS problem."""
        try:
            answer = await self.resolver.resolve(domain, "MX", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return self._keep(domain, (), self.negative_ttl)
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("MX lookup of %s failed: %s", domain, exc)
            return self._keep(domain, (), self.error_ttl)
        records = sorted(answer, key=lambda r: (r.preference, str(r.exchange)))
        hosts = tuple(str(r.exchange).rstrip(".").lower() for r in records)
        ttl = answer.rrset.ttl if answer.rrset is not None else self.min_ttl
        return self._keep(domain, hosts, min(self.max_ttl, max(self.min_ttl, float(ttl))))

    def _keep(self, domain: str, hosts: tuple[str, ...], ttl: float) -> tuple[str, ...]:
        self._entries[domain] = (self.clock() + ttl, hosts)
        self._entries.move_to_end(domain)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return hosts

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def mx_cache(settings: Settings) -> MxCache:
    """The cache as the settings ask: their resolver's addresses and port, timeout and bounds."""
    return MxCache(
        nameservers=settings.mx_nameservers,
        port=settings.mx_port,
        timeout=settings.mx_timeout,
        max_entries=settings.mx_cache_size,
        negative_ttl=settings.mx_negative_ttl,
    )
