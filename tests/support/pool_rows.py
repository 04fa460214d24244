"""Server rows and an in-memory catalog, for pipeline tests that need a pool but no database."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sendpool.store.records import CampaignRow, CustomerRow, PoolRows, ServerRow


def server_row(server_id: int, name: str, **changes: Any) -> ServerRow:
    row = ServerRow(
        id=server_id,
        uid=f"uid-{name}",
        name=name,
        type="smtp",
        status="active",
        health="healthy",
        sending_limit=1000,
        hourly_limit=None,
        rate_per_second=None,
        max_connections=4,
        max_messages_per_connection=None,
        timezone="UTC",
        default_from_email=None,
        settings={"host": "127.0.0.1", "port": 25, "encryption": "none"},
        secrets={},
        warmup=None,
        warmup_held_days=0,
        next_check_at=None,
        paused_until=None,
        health_checked_at=None,
        health_error=None,
        last_activity_at=None,
    )
    return dataclasses.replace(row, **changes)


def pool_rows(servers: Iterable[ServerRow], plan_servers: dict[int, Iterable[int]]) -> PoolRows:
    return PoolRows(
        servers=tuple(servers),
        plan_servers={p: frozenset(ids) for p, ids in plan_servers.items()},
        plan_names={p: f"plan{p}" for p in plan_servers},
        plan_burst={p: None for p in plan_servers},
        region_rules={},
    )


class MemoryCatalog:
    """The pipeline's Catalog port over a fixed pool; health checks are claimed once each."""

    def __init__(self, rows: PoolRows) -> None:
        self.rows = rows
        self.loads = 0
        self.claimed: list[int] = []
        self.refuse_claims = False

    async def pool(self, now: datetime) -> PoolRows:
        self.loads += 1
        return self.rows

    async def campaigns(self, ids: Iterable[int]) -> dict[int, CampaignRow]:
        return {}

    async def customers(self, ids: Iterable[int]) -> dict[int, CustomerRow]:
        return {}

    async def suppressed(self, recipients: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
        return {}

    async def heartbeat(self, worker: str, now: datetime, stopping: bool = False) -> None:
        return None

    async def claim_health_check(self, server_id: int, now: datetime, until: datetime) -> bool:
        if self.refuse_claims:
            return False
        self.claimed.append(server_id)
        return True

    async def finish_stalled_launches(
        self, now: datetime, halt: threading.Event | None = None
    ) -> list[int]:
        return []
