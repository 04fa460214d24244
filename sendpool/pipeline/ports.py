"""The interfaces the pipeline consumes; the store (SQL, Redis) implements them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sendpool.core.quota import Grant
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows
from sendpool.store.records import (
    CampaignRow,
    ClaimedMessage,
    CustomerRow,
    PoolRows,
    RecordBatch,
)


class QuotaLedger(Protocol):
    """Quota windows, rate state and rotation cursors, shared by every worker."""

    async def usage(self, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]: ...

    async def reserve(
        self, server_id: int, windows: ServerWindows, caps: Caps, count: int, now: datetime
    ) -> Grant: ...

    async def release(self, releases: Mapping[tuple[int, ServerWindows], int]) -> None: ...

    async def advance_cursor(self, plan_id: int, count: int) -> int: ...

    def close(self) -> None:
        """Let go of connections and threads; the ledger is not used after this."""
        ...


class MessageQueue(Protocol):
    async def claim(
        self, worker: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[ClaimedMessage]: ...

    async def record(self, worker: str, batch: RecordBatch, now: datetime) -> None: ...

    async def release_claims(self, worker: str, ids: Sequence[int], now: datetime) -> int: ...


class Catalog(Protocol):
    async def pool(self, now: datetime) -> PoolRows: ...

    async def campaigns(self, ids: Iterable[int]) -> dict[int, CampaignRow]: ...

    async def customers(self, ids: Iterable[int]) -> dict[int, CustomerRow]: ...

    async def heartbeat(self, worker: str, now: datetime, stopping: bool = False) -> None: ...

    async def claim_health_check(self, server_id: int, now: datetime, until: datetime) -> bool: ...

    async def finish_stalled_launches(
        self, now: datetime, halt: threading.Event | None = None
    ) -> list[int]:
        """Carry on launches whose launcher went away; stop between batches once ``halt`` is set."""
        ...
