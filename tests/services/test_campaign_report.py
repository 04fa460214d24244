"""When a campaign counts as settled: the CLI stops waiting, tests stop sending."""

from __future__ import annotations

import pytest

from sendpool.services.campaigns.report import CampaignReport


def report(status: str = "sending", **counts: int) -> CampaignReport:
    by_status = {k: v for k, v in counts.items() if k in ("sent", "sending", "deferred", "queued")}
    rest = {k: v for k, v in counts.items() if k not in by_status}
    return CampaignReport("c1", "c", status, 10, by_status=by_status, **rest)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "settled"),
    [
        (report(sent=10), True),
        (report(sent=4, queued=6, waiting=6), True),  # waiting for a window, far off
        (report(sent=4, queued=6, waiting=6, due_soon=6), False),  # a ledger rebuild, a rate
        (report(sent=4, queued=6, due_now=6, due_soon=6), False),
        (report(sent=4, sending=6), False),
        (report(sent=4, deferred=6), False),
        (report("launching", sent=4), False),
        (report("paused", sent=4, queued=6, due_soon=6), True),  # held until resumed
    ],
)
def test_settled(case: CampaignReport, settled: bool) -> None:
    assert case.settled is settled
