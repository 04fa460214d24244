"""Which changes to a server may let waiting mail go now (sendpool.core.room)."""

from __future__ import annotations

import pytest

from sendpool.core.room import adds_room, any_adds_room


@pytest.mark.parametrize(
    ("field", "before", "after", "expected"),
    [
        ("sending_limit", 3300, 5000, True),  # a raised cap
        ("sending_limit", 5000, 3300, False),  # a lowered cap
        ("sending_limit", 5000, 5000, False),  # no change at all
        ("max_connections", 2, 4, True),
        ("hourly_limit", 100, None, True),  # no hourly cap any more: unlimited
        ("hourly_limit", None, 100, False),  # a cap where there was none
        ("hourly_limit", 100, 200, True),
        ("rate_per_second", 5.0, 2.5, False),
        ("rate_per_second", "5", "7", True),  # not numbers: any change may matter
        ("status", "disabled", "active", True),
        ("status", "paused", "active", True),
        ("status", "active", "disabled", False),
        ("health", "degraded", "unknown", True),  # connection settings changed: tried again
        ("health", "degraded", "healthy", True),
        ("health", "unknown", "degraded", False),
        ("warmup", None, {"start_daily": 500}, True),
        ("timezone", "UTC", "Europe/Paris", True),
        ("default_from_email", "a@example.com", "b@example.com", False),
    ],
)
def test_adds_room(field: str, before: object, after: object, expected: bool) -> None:
    assert adds_room(field, before, after) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, False),
        ({"sending_limit": (10, 5), "name": ("a", "b")}, False),
        ({"sending_limit": (10, 5), "status": ("disabled", "active")}, True),
    ],
)
def test_any_adds_room(changes: dict[str, tuple[object, object]], expected: bool) -> None:
    assert any_adds_room(changes) is expected
