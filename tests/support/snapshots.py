"""The whole database as plain data, to prove a refused request changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.store.tables import Base

# Columns that change on every authenticated request, by design.
IGNORED = {("api_tokens", "last_used_at"), ("workers", "heartbeat_at")}


def db_snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with rt.db.engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            cols = [c for c in t.columns if (t.name, c.name) not in IGNORED]
            rows = conn.execute(select(*cols)).all()
            out[t.name] = sorted(tuple(repr(v) for v in r) for r in rows)
    return out
