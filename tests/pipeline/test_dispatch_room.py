"""Two things the dispatcher weighs beyond the filters: a server's room on this worker, and a lost reply."""

from __future__ import annotations

from collections import Counter

from sendpool.core.servers import ServerView
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.store.ledger_memory import MemoryLedger
from tests.support.dispatch_helpers import NOW, job, pool_state

SERVERS = [ServerView(id=i, name=f"s{i}", sending_limit=1000) for i in (1, 2, 3)]


async def test_a_server_without_room_keeps_its_share_waiting_not_given_to_the_others() -> None:
    ledger = MemoryLedger()
    dispatcher = Dispatcher(ledger, room=lambda sid, _c: 4 if sid == 3 else 1000)
    out = await dispatcher.assign(
        [job(1) for _ in range(30)], pool_state(SERVERS, {1: [1, 2, 3]}), NOW
    )
    by_server = Counter(j.server.id for j in out.ready if j.server is not None)
    assert by_server == {1: 10, 2: 10, 3: 4}
    assert len(out.waiting) == 6
    assert all("busy" in w.reason and w.until > NOW for w in out.waiting)
    day_units = sum(n for (_sid, kind, _key), n in ledger.used.items() if kind == "day")
    assert day_units == 24, "no unit reserved for what waits"


async def test_a_message_whose_reply_was_lost_goes_to_that_server_first() -> None:
    jobs = [job(1) for _ in range(9)]
    for j in jobs[:3]:
        j.row.retry_server_id = 2
    out = await Dispatcher(MemoryLedger()).assign(jobs, pool_state(SERVERS, {1: [1, 2, 3]}), NOW)
    servers = {j.row.id: j.server.id for j in out.ready if j.server is not None}
    assert [servers[j.row.id] for j in jobs[:3]] == [2, 2, 2]
    # The other six are dealt round-robin as ever.
    assert Counter(servers.values()) == {1: 2, 2: 5, 3: 2}


async def test_a_lost_reply_server_that_dropped_out_is_no_obstacle() -> None:
    j = job(1)
    j.row.retry_server_id = 99  # gone from the plan
    out = await Dispatcher(MemoryLedger()).assign([j], pool_state(SERVERS, {1: [1, 2, 3]}), NOW)
    assert [x.server.id for x in out.ready if x.server is not None] in ([1], [2], [3])
