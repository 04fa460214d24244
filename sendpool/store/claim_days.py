"""The day partition of each message a worker holds, so its by-id statements name it.

On PostgreSQL ``messages`` is partitioned by ``part_day`` (0021) and its
primary key is (id, part_day): a statement that names rows by id alone
probes the key of every partition for each id. The claim returns each
message's part_day; the SQL queue keeps them here until the message is
written back or handed back, and every statement by id in between adds
``part_day = ANY(days)``, which PostgreSQL prunes to the partitions of those
rows. An id it does not know (a worker restarted, a cap reached) drops the
filter for that statement: slower, never wrong. SQLite has one table and
no part_day in its claim: nothing is kept, and its statements are as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Claims in flight per process are bounded by max_in_flight (2,000 by default): this
# only guards against ids that never come back, by starting afresh.
CAP = 200_000

Days = Mapping[int, int]


class ClaimDays:
    """Message id -> part_day, from the claim until the write-back or the release."""

    def __init__(self, cap: int = CAP) -> None:
        self._days: dict[int, int] = {}
        self._cap = cap

    def __len__(self) -> int:
        return len(self._days)

    def remember(self, days: Days) -> None:
        if len(self._days) + len(days) > self._cap:
            self._days.clear()
        self._days.update(days)

    def of(self, ids: Iterable[int]) -> dict[int, int] | None:
        """The days of ``ids``; None when one of them is not known (no filter then)."""
        out: dict[int, int] = {}
        for i in ids:
            day = self._days.get(i)
            if day is None:
                return None
            out[i] = day
        return out

    def forget(self, ids: Iterable[int]) -> None:
        for i in ids:
            self._days.pop(i, None)


def distinct_days(days: Days | None) -> list[int] | None:
    """The partitions to name, sorted; None: name none (every partition is looked at)."""
    if not days:
        return None
    return sorted(set(days.values()))
