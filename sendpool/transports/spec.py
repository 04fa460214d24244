"""What a transport is built from: a server's validated settings and its secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """Everything a transport needs, and nothing of the database it came from.

    ``secrets`` are plain text here and only here: in the store they are
    encrypted, and no repr, log line or API answer shows them.

    ``bounce_domain`` is the server's return-path domain, its own or the global
    default; None: its messages keep their sender as envelope sender.
    ``bounce_local`` is the local part before ``+TOKEN`` (docs/design.md §6).
    ``group_messages_per_connection``: per provider group, how many of its
    messages one connection carries before it is closed (SMTP; §1.9).
    """

    id: int
    uid: str
    name: str
    type: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    max_connections: int = 4
    max_messages_per_connection: int | None = None
    timeout: float = 30.0
    bounce_domain: str | None = None
    bounce_local: str = "bounces"
    group_messages_per_connection: Mapping[str, int] = field(default_factory=dict)
