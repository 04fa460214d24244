"""A tiny authoritative DNS server on 127.0.0.1 for MX lookups: answers built by dnspython.

``zones`` maps a domain to its MX records ``[(preference, host)]`` and TTL; a
domain not in it is NXDOMAIN; one in ``silent`` gets no answer at all (the
resolver times out). ``queries`` counts what was asked, per name.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class DnsServer(asyncio.DatagramProtocol):
    zones: dict[str, tuple[list[tuple[int, str]], int]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    queries: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        self.queries[name] += 1
        if name in self.silent:
            return
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        zone = self.zones.get(name)
        if zone is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif zone[0] and question.rdtype == dns.rdatatype.MX:
            records, ttl = zone
            texts = [f"{pref} {host}." for pref, host in records]
            reply.answer.append(
                dns.rrset.from_text_list(question.name, ttl, dns.rdataclass.IN, "MX", texts)
            )
        assert self._transport is not None
        self._transport.sendto(reply.to_wire(), addr)

    async def start(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
