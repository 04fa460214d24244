"""Reading the operator's provider groups and every server's limits to a group."""

from __future__ import annotations

from sqlalchemy import Connection, select

from sendpool.core.providers import GroupLimits, ProviderGroup
from sendpool.store.tables_providers import ProviderGroupRow, ProviderLimit


def load_providers(
    conn: Connection,
) -> tuple[tuple[ProviderGroup, ...], dict[tuple[int, str], GroupLimits]]:
    """The operator's groups in the order they were declared, and limits by (server, group)."""
    G, L = ProviderGroupRow, ProviderLimit
    groups = tuple(
        ProviderGroup(str(name), frozenset(domains or ()), tuple(mx or ()))
        for name, domains, mx in conn.execute(select(G.name, G.domains, G.mx).order_by(G.id))
    )
    limits = {
        (int(r.server_id), str(r.group_name)): GroupLimits(
            r.rate_per_second, r.burst, r.max_connections, r.messages_per_connection
        )
        for r in conn.execute(
            select(
                L.server_id,
                L.group_name,
                L.rate_per_second,
                L.burst,
                L.max_connections,
                L.messages_per_connection,
            )
        )
    }
    return groups, limits
