"""Times written to SQLite by the driver's own SQL read as SQLAlchemy writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendpool.store.types import sqlite_text

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=ZONES)
)
def test_the_text_is_strftimes_of_the_utc_time(value: datetime) -> None:
    expected = value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    assert sqlite_text(value) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 12, 3, 9, 0, tzinfo=UTC), "2026-12-03 09:00:00.000000"),
        (datetime(2026, 12, 3, 9, 0, 0, 7, tzinfo=UTC), "2026-12-03 09:00:00.000007"),
        (
            datetime(2026, 12, 3, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-12-02 23:00:00.000000",
        ),
        (None, None),
    ],
)
def test_known_times(value: datetime | None, text: str | None) -> None:
    assert sqlite_text(value) == text
