"""The interfaces the pipeline consumes; the store (SQL, Redis) implements them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sendpool.core.quota import Grant
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows
from sendpool.store.records import (
    CampaignRow,
    ClaimedMessage,
    CustomerRow,
    Held,
    PoolRows,
    RecordBatch,
    ReservationMark,
)


class QuotaLedger(Protocol):
    """Quota windows, rate state and rotation cursors, shared by every worker."""

    async def usage(self, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]: ...

    # Whether ``reserve`` writes the messages' reservation marks in the same
    # transaction as the units (the SQL ledger); others leave it to the worker.
    marks_reservations: bool

    async def reserve(
        self,
        server_id: int,
        windows: ServerWindows,
        caps: Caps,
        count: int,
        now: datetime,
        mark: ReservationMark | None = None,
        throttle: Throttle | None = None,
    ) -> Grant:
        """Check and take ``count`` units at once: the windows, the server's rate and,
        given a ``throttle``, the server's rate to that provider group."""
        ...

    async def release(
        self, releases: Mapping[tuple[int, ServerWindows], int], held: Sequence[Held] = ()
    ) -> None:
        """Give units back; ``held`` names each one's message, for ledgers that keep that."""
        ...

    async def forget(self, message_ids: Sequence[int]) -> None:
        """These messages are settled in the database: no unit of theirs is held any more."""
        ...

    async def whole(self) -> bool:
        """Whether a unit given back now is surely counted back.

        False while the counters are being rebuilt or cannot be reached: a
        unit given back then may be lost, or counted in the rebuild as well.
        """
        ...

    async def advance_cursor(self, plan_id: int, count: int) -> int: ...

    def close(self) -> None:
        """Let go of connections and threads; the ledger is not used after this."""
        ...


class MessageQueue(Protocol):
    async def claim(
        self, worker: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[ClaimedMessage]: ...

    async def record(self, worker: str, batch: RecordBatch, now: datetime) -> None: ...

    async def release_claims(
        self, worker: str, ids: Sequence[int], now: datetime, due: datetime | None = None
    ) -> int: ...

    async def mark_reserved(
        self, worker: str, reserved: Sequence[tuple[int, int]], at: datetime
    ) -> None:
        """``(message id, server id)``: the units just reserved, written before any send."""
        ...

    async def mark_handed(self, worker: str, ids: Sequence[int], at: datetime) -> None:
        """These messages reach their transports now; written before the send starts."""
        ...

    async def renew_leases(self, worker: str, ids: Sequence[int], until: datetime) -> int: ...

    async def clear_reservations(self, worker: str, ids: Sequence[int]) -> None: ...


class Catalog(Protocol):
    async def pool(self, now: datetime) -> PoolRows: ...

    async def campaigns(self, ids: Iterable[int]) -> dict[int, CampaignRow]: ...

    async def customers(self, ids: Iterable[int]) -> dict[int, CustomerRow]: ...

    async def suppressed(self, recipients: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
        """Of ``(customer id, address)`` pairs, those suppressed, with the reason.

        Keys carry the address lowercased.
        """
        ...

    async def heartbeat(self, worker: str, now: datetime, stopping: bool = False) -> None: ...

    async def claim_health_check(self, server_id: int, now: datetime, until: datetime) -> bool: ...

    async def finish_stalled_launches(
        self, now: datetime, halt: threading.Event | None = None
    ) -> list[int]:
        """Carry on launches whose launcher went away; stop between batches once ``halt`` is set."""
        ...
