"""A server's limits to a provider group as the admin API shows them (docs/design.md §1.9)."""

from __future__ import annotations

from pydantic import BaseModel


class GroupLimitOut(BaseModel):
    server_uid: str
    server: str
    group: str
    rate_per_second: (
        float | None
    )  # GCRA, with `burst` sends at once (None: one at a time, 1/rate apart)
    burst: float | None
    max_connections: int | None  # per worker
    messages_per_connection: int | None
