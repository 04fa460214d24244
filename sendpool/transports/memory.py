"""An in-memory transport for testing the layers above the transports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sendpool.core.outcomes import Outcome, accepted
from sendpool.transports.base import Health
from sendpool.transports.message import OutgoingMessage


class MemoryTransport:
    """Keeps what it was given; ``script`` may answer a message with any outcome."""

    def __init__(
        self,
        name: str = "memory",
        script: Callable[[OutgoingMessage], Outcome | None] | None = None,
        healthy: bool = True,
    ) -> None:
        self.name = name
        self.sent: list[OutgoingMessage] = []
        self.script = script
        self.healthy = healthy
        self.closed = False

    async def send(self, message: OutgoingMessage) -> Outcome:
        await asyncio.sleep(0)
        outcome = self.script(message) if self.script else None
        if outcome is None:
            self.sent.append(message)
            return accepted(f"{self.name}-{len(self.sent)}")
        return outcome

    async def check(self) -> Health:
        return Health(self.healthy, "memory transport" if self.healthy else "marked unhealthy")

    async def close(self) -> None:
        self.closed = True
