"""Server specs for the vendor transports, built the way the pool builds them."""

from __future__ import annotations

from typing import Any

from sendpool.transports.registry import validate_settings
from sendpool.transports.spec import ServerSpec


def vendor_spec(server_type: str, settings: dict[str, Any], secrets: dict[str, str]) -> ServerSpec:
    """Settings go through the type's model first, as ``pool apply`` does."""
    return ServerSpec(
        id=1,
        uid=f"srv-{server_type}",
        name=f"{server_type}-test",
        type=server_type,
        settings=validate_settings(server_type, settings),
        secrets=secrets,
        max_connections=2,
        timeout=10.0,
    )
