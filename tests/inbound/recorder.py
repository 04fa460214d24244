"""A report handler for the adapter tests: real, async, and it records what it was handed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sendpool.services.inbound.handle import Envelope, Handled


@dataclass
class Recorder:
    """A real async report handler standing for the real one: it records each call.

    ``decide`` gives the outcome for a message (default: a multipart/report is
    "applied", anything else "not_a_report"); ``before`` runs first and may raise
    or act (restart a server) to script a fault.
    """

    calls: list[tuple[bytes, Envelope, datetime]] = field(default_factory=list)
    decide: Callable[[bytes], str] | None = None
    before: Callable[[bytes], Awaitable[None]] | None = None

    async def __call__(self, raw: bytes, envelope: Envelope, now: datetime) -> Handled:
        self.calls.append((raw, envelope, now))
        if self.before is not None:
            await self.before(raw)
        outcome = (self.decide or default_outcome)(raw)
        return Handled(outcome, None, None, None, f"{envelope.source}: recorded as {outcome}")

    @property
    def raws(self) -> list[bytes]:
        return [raw for raw, _, _ in self.calls]


def default_outcome(raw: bytes) -> str:
    return "applied" if b"multipart/report" in raw else "not_a_report"
