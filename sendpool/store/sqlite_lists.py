"""Lists in SQLite statements padded to a few lengths, so each statement is compiled once.

SQLite compiles every distinct statement text, and Python's sqlite3 keeps
only the last 128 it compiled. A hot statement whose text carries one ``?``
per row (the write-back's VALUES, an ``IN (...)`` of ids) is a new text at
each length, so nearly every batch was compiled afresh: 1.1 ms of 1.4 ms for
a write-back of 130 rows. Padded to one of the lengths below with NULLs,
which match no row (``id = NULL`` and ``id IN (..., NULL)`` are never
true), the hot statements have a few texts each, compiled once per
connection. The padding costs less than a tenth of what it saves.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

# About 1.5 x apart: a padded list is at most half again as long as the list itself.
LENGTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def padded_length(n: int) -> int:
    """The length a list of ``n`` is padded to; past the longest, ``n`` itself."""
    i = bisect.bisect_left(LENGTHS, n)
    return LENGTHS[i] if i < len(LENGTHS) else n


def marks(n: int) -> str:
    """``?, ?, ...`` for a list of ``n`` padded: put in the statement's ``IN (...)``."""
    return ", ".join("?" * padded_length(n))


def pad(values: Sequence[object]) -> tuple[object, ...]:
    """``values`` and the NULLs that fill them up to ``marks(len(values))``."""
    return (*values, *(None,) * (padded_length(len(values)) - len(values)))
