"""Health checks learn whether a server offers SMTPUTF8, and check servers that have not said."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sendpool.pipeline.health import check_due, learned_smtputf8
from sendpool.pipeline.pool import view_of
from sendpool.transports.base import Health
from sendpool.transports.memory import MemoryTransport
from tests.pipeline.test_health import INTERVAL, LONG_AGO, Harness
from tests.support.dispatch_helpers import NOW
from tests.support.pool_rows import server_row

BUSY = {"last_activity_at": NOW, "health_checked_at": LONG_AGO}


@pytest.mark.parametrize(
    ("changes", "due"),
    [
        ({**BUSY, "smtputf8": None}, True),  # unknown: checked although busy
        ({**BUSY, "smtputf8": False}, False),  # known, either way: its sends tell
        ({**BUSY, "smtputf8": True}, False),
        ({**BUSY, "smtputf8": None, "health_checked_at": NOW}, False),  # once per interval
        ({**BUSY, "smtputf8": None, "type": "ses"}, False),  # a vendor's type declares it
        ({**BUSY, "smtputf8": None, "status": "disabled"}, False),
    ],
)
def test_a_busy_server_of_unknown_smtputf8_is_due(changes: dict[str, object], due: bool) -> None:
    assert check_due(server_row(1, "a", **changes), NOW, INTERVAL) is due


@pytest.mark.parametrize(
    ("health", "learned"),
    [
        (Health(True, "ok", {"smtputf8": "yes"}), True),
        (Health(True, "ok", {"smtputf8": "no"}), False),
        (Health(True, "ok"), None),  # a transport that does not say
        (Health(False, "down", {"smtputf8": "yes"}), None),  # a failed check learns nothing
    ],
)
def test_what_a_check_learns(health: Health, learned: bool | None) -> None:
    assert learned_smtputf8(health) is learned


class Offering(MemoryTransport):
    def __init__(self, smtputf8: bool) -> None:
        super().__init__()
        self.smtputf8 = smtputf8

    async def check(self) -> Health:
        return Health(True, "ok", {"smtputf8": "yes" if self.smtputf8 else "no"})


@pytest.mark.parametrize("offered", [True, False])
async def test_a_check_records_what_the_server_offers(offered: bool) -> None:
    h = Harness(server_row(1, "a", **BUSY), transports={1: Offering(offered)})
    await h.checker.check_due_servers()
    (change,) = h.changes
    assert change.smtputf8 is offered and change.checked


@pytest.mark.parametrize(
    ("server_type", "learned", "view"),
    [
        ("smtp", None, None),  # never said: not known to offer
        ("smtp", True, True),
        ("smtp", False, False),
        ("ses", None, False),  # declared per type, whatever a row holds
        ("ses", True, False),
        ("postmark", None, False),
        ("sendgrid", None, False),
        ("mailgun", None, True),
        ("no-such-type", True, True),
    ],
)
def test_the_view_combines_the_types_declaration_and_what_was_learnt(
    server_type: str, learned: bool | None, view: bool | None
) -> None:
    row = server_row(1, "a", type=server_type, smtputf8=learned)
    assert view_of(row).smtputf8 is view


def test_unknown_servers_are_checked_again_only_after_an_interval() -> None:
    row = server_row(1, "a", last_activity_at=NOW, smtputf8=None)
    just = NOW - timedelta(seconds=INTERVAL - 1)
    assert check_due(row, NOW, INTERVAL)
    assert not check_due(
        server_row(1, "a", health_checked_at=just, smtputf8=None, last_activity_at=NOW),
        NOW,
        INTERVAL,
    )
