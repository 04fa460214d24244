"""The transport protocol every server type implements, and what a check reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sendpool.core.outcomes import Outcome
from sendpool.transports.message import OutgoingMessage


@dataclass(frozen=True, slots=True)
class Health:
    """A check's verdict; ``facts`` are figures the provider reports (quotas, rates)."""

    ok: bool
    detail: str
    facts: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Hands messages to one sending server; pools and reuses its connections.

    ``send`` never raises for a delivery problem: every failure comes back as an
    ``Outcome`` whose class the pipeline acts on.
    """

    async def send(self, message: OutgoingMessage) -> Outcome: ...

    async def check(self) -> Health: ...

    async def close(self) -> None: ...
