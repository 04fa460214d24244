"""The real clock, read where a test's windows hold still."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sendpool.core.windows import windows_at


def away_from_an_hour_end(margin: float = 60.0) -> datetime:
    """Now, unless the hour (and so perhaps the day) ends within ``margin`` seconds: then the
    next hour's start. A test that looks ``margin`` seconds ahead stays in the same windows."""
    now = datetime.now(UTC)
    left = windows_at(now).hour.seconds_left(now)
    if left < margin:
        time.sleep(left + 0.1)
        now = datetime.now(UTC)
    return now
