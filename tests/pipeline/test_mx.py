"""MX lookups against a real DNS server on loopback: cached by TTL, negative cache, timeouts.

A batch never waits: ``hosts`` answers from the cache or starts a lookup and
says "not known yet". The clock the cache reads is passed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sendpool.pipeline.mx import MxCache, mx_cache
from sendpool.pipeline.pool import PoolCache
from sendpool.store.records import PoolRows
from tests.support.dispatch_helpers import NOW
from tests.support.dns_server import DnsServer
from tests.support.pool_rows import pool_rows
from tests.support.settings import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    server = DnsServer(
        zones={
            "hosted.example": ([(10, "ALT1.aspmx.l.google.com"), (5, "aspmx.l.google.com")], 300),
            "nomx.example": ([], 300),
        },
        silent={"slow.example"},
    )
    await server.start()
    yield server
    server.close()


def cache(server: DnsServer, clock: Clock, **kw: float) -> MxCache:
    return MxCache(nameservers=["127.0.0.1"], port=server.port, timeout=0.3, clock=clock, **kw)


async def _settled(mx: MxCache) -> None:
    while mx._pending:
        await asyncio.gather(*mx._pending.values())


async def test_hosts_come_in_preference_order_and_are_kept_for_their_ttl(
    dns_server: DnsServer,
) -> None:
    clock = Clock()
    mx = cache(dns_server, clock)
    assert mx.hosts("hosted.example") is None  # not known yet: looked up in the background
    assert mx.hosts("hosted.example") is None  # and only once
    await _settled(mx)
    assert mx.hosts("hosted.example") == ("aspmx.l.google.com", "alt1.aspmx.l.google.com")
    assert dns_server.queries["hosted.example"] == 1
    clock.now += 299
    assert mx.hosts("hosted.example") is not None
    clock.now += 2  # past its TTL: asked again, the old answer no longer given
    assert mx.hosts("hosted.example") is None
    await _settled(mx)
    assert dns_server.queries["hosted.example"] == 2
    await mx.close()


async def test_no_mx_and_no_domain_are_cached_as_none(dns_server: DnsServer) -> None:
    clock = Clock()
    mx = cache(dns_server, clock, negative_ttl=50)
    assert await mx.lookup("nomx.example") == ()
    assert await mx.lookup("missing.example") == ()
    assert (mx.hosts("nomx.example"), mx.hosts("missing.example")) == ((), ())
    clock.now += 51
    assert mx.hosts("missing.example") is None
    await mx.close()


async def test_a_server_that_never_answers_costs_one_timeout_then_waits(
    dns_server: DnsServer,
) -> None:
    clock = Clock()
    mx = cache(dns_server, clock, error_ttl=30)
    assert await mx.lookup("slow.example") == ()
    asked = dns_server.queries["slow.example"]
    assert mx.hosts("slow.example") == ()  # kept as none for error_ttl, not asked again
    assert dns_server.queries["slow.example"] == asked
    clock.now += 31
    assert mx.hosts("slow.example") is None
    await mx.close()  # a lookup under way is cancelled


async def test_the_cache_is_bounded_least_recently_used_first(dns_server: DnsServer) -> None:
    clock = Clock()
    mx = cache(dns_server, clock, max_entries=2)
    for name in ("hosted.example", "nomx.example"):
        await mx.lookup(name)
    mx.hosts("hosted.example")  # used: nomx.example is now the oldest
    await mx.lookup("missing.example")
    assert len(mx) == 2
    assert mx.hosts("hosted.example") is not None
    assert mx.hosts("nomx.example") is None
    await mx.close()


async def test_lookups_at_once_are_bounded(dns_server: DnsServer) -> None:
    mx = cache(dns_server, Clock(), max_pending=1)
    mx.hosts("hosted.example")
    mx.hosts("nomx.example")  # over the bound: not looked up now, asked again later
    assert list(mx._pending) == ["hosted.example"]
    await _settled(mx)
    await mx.close()


async def test_the_settings_build_the_cache_and_the_pool_reads_it(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, mx_lookups=True, mx_nameservers=["127.0.0.1"], mx_port=dns_server.port
    )
    mx = mx_cache(settings)

    class Catalog:
        async def pool(self, now: object) -> PoolRows:
            return pool_rows([], {})

    state = await PoolCache(Catalog(), mx=mx).get(NOW)  # type: ignore[arg-type]
    assert state.group_of("hosted.example") is None  # being looked up
    await _settled(mx)
    assert state.group_of("hosted.example") == "gmail"  # its MX is Google's
    await mx.close()
