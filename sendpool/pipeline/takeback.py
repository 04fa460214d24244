"""Messages a crashed worker left behind: give back the units no transport ever used.

A claim can return a message whose lease ran out while it still carried the
marks of the worker that held it (``store/holdings.py``). Never handed over:
no transport had it, so its unit goes back to its server's window. Handed
over: it may have gone out, so the unit stays spent and the message goes to
that server first, marked as a possible duplicate (RFC 1047). The marks are
cleared in the database before any unit goes back, so a second crash can
never return a unit twice; and nothing is given back while the ledger's
counters are being rebuilt (docs/design.md §3).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sendpool.pipeline.pool import PoolState
from sendpool.pipeline.ports import QuotaLedger
from sendpool.store.records import ClaimedMessage, Held, units_of

log = logging.getLogger("sendpool.worker")

ClearMarks = Callable[[Sequence[int]], Awaitable[None]]


async def not_yet(
    claimed: Sequence[ClaimedMessage], ledger: QuotaLedger
) -> tuple[list[ClaimedMessage], list[ClaimedMessage]]:
    """(to take over now, to hand back untouched): left messages wait for whole counters.

    While a Redis ledger is being rebuilt, a unit given back may be lost, or
    counted by a rebuild that read the database before the marks were cleared
    and so burned for the day. A message another worker left holding a unit
    therefore goes back as it is, marks and all, until the counters are whole.
    """
    left = {m.id for m in claimed if m.reserved_server_id is not None}
    if not left or await ledger.whole():
        return list(claimed), []
    return [m for m in claimed if m.id not in left], [m for m in claimed if m.id in left]


async def take_back(
    claimed: Sequence[ClaimedMessage], pool: PoolState, ledger: QuotaLedger, clear: ClearMarks
) -> tuple[int, int]:
    """Settle what earlier holders left; returns (units given back, units kept spent)."""
    left = [m for m in claimed if m.reserved_server_id is not None]
    if not left:
        return 0, 0
    await clear([m.id for m in left])
    held: list[Held] = []
    kept = 0
    for m in left:
        server_id, at = m.reserved_server_id, m.reserved_at
        assert server_id is not None
        view = pool.views.get(server_id)
        if m.handed_at is None:
            if view is not None and at is not None:
                held.append(Held(m.id, server_id, view.windows(at), at))
        else:
            kept += 1
            m.retry_server_id = server_id
            m.attempts += 1  # as the row now says (store/holdings.py)
        m.reserved_server_id = m.reserved_at = m.handed_at = None
    if held:
        # By message where the ledger keeps that (Redis): a unit the dead worker's
        # marks name but that was never granted (it died between the two) stays put.
        await ledger.release(units_of(held), held)
    given = len(held)
    log.warning(
        "took over %d message(s) left by a stopped worker: %d unit(s) given back, "
        "%d kept spent (those may have gone out and are retried on the same server first)",
        len(left),
        given,
        kept,
    )
    return given, kept
