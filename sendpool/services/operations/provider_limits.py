"""Per server x provider group limits, as the pool page, doctor and the admin API show them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from sendpool.core.providers import SHIPPED_NAMES
from sendpool.services.operations.doctor_checks import Check, Status
from sendpool.store.tables import SendingServer
from sendpool.store.tables_providers import ProviderGroupRow, ProviderLimit


@dataclass(frozen=True, slots=True)
class GroupLimitView:
    server_uid: str
    server: str
    group: str
    rate_per_second: float | None
    burst: float | None
    max_connections: int | None
    messages_per_connection: int | None

    def words(self) -> str:
        """ "5/s (burst 5), 2 connections, 100 per connection"."""
        said = []
        if self.rate_per_second is not None:
            burst = f" (burst {self.burst:g})" if self.burst is not None else ""
            said.append(f"{self.rate_per_second:g}/s{burst}")
        if self.max_connections is not None:
            said.append(f"{self.max_connections} connection(s) per worker")
        if self.messages_per_connection is not None:
            said.append(f"{self.messages_per_connection} per connection")
        return ", ".join(said)


def group_limits(conn: Connection) -> list[GroupLimitView]:
    """Every server x group limit, by server name then group."""
    S, L = SendingServer, ProviderLimit
    rows = conn.execute(
        select(
            S.uid,
            S.name,
            L.group_name,
            L.rate_per_second,
            L.burst,
            L.max_connections,
            L.messages_per_connection,
        )
        .join(S, S.id == L.server_id)
        .order_by(S.name, L.group_name)
    )
    return [GroupLimitView(*(r)) for r in rows]


def provider_limit_checks(conn: Connection, *, mx_lookups: bool) -> list[Check]:
    """One doctor line for the limits, and a warning for a group MX lookups would need."""
    limits = group_limits(conn)
    if not limits:
        return []
    detail = "; ".join(f"{v.server} → {v.group}: {v.words()}" for v in limits)
    checks = [Check("provider limits", Status.OK, detail)]
    limited = {v.group for v in limits}
    G = ProviderGroupRow
    for name, domains in conn.execute(select(G.name, G.domains)):
        if name in limited and not domains and not mx_lookups:
            checks.append(
                Check(
                    f"provider group {name}",
                    Status.WARN,
                    f"{name} is matched by MX host patterns only, and MX lookups are off: "
                    "no recipient is in it, so its limits never apply",
                    "set SENDPOOL_MX_LOOKUPS=true, or list the group's domains in the pool file",
                )
            )
    if not mx_lookups and limited & SHIPPED_NAMES:
        checks[0] = Check(
            "provider limits",
            Status.OK,
            detail + " (shipped groups match their listed domains only while MX lookups are off)",
        )
    return checks
