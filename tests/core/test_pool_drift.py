"""Pool files against changes made elsewhere (sendpool.core.pool_drift), one row per case."""

from __future__ import annotations

import pytest

from sendpool.core.pool_drift import NOT_APPLIED, Verdict, field_verdict, member_verdict


@pytest.mark.parametrize(
    ("current", "wanted", "applied", "force", "verdict"),
    [
        (7000, 7000, 7000, False, Verdict.SAME),
        (7000, 7000, 5000, False, Verdict.SAME),  # the file caught up with the change
        (7000, 8000, 7000, False, Verdict.APPLY),  # the file's own change
        (7000, 8000, NOT_APPLIED, False, Verdict.APPLY),  # no earlier apply: the file's value
        # Disabled in the pages since the last apply: the file does not re-enable it.
        ("disabled", "active", "active", False, Verdict.DRIFT),
        ("disabled", "active", "active", True, Verdict.APPLY),  # --force
        (7700, 7000, 7000, False, Verdict.DRIFT),  # raised by the rebalancer
    ],
)
def test_field_verdict(
    current: object, wanted: object, applied: object, force: bool, verdict: Verdict
) -> None:
    assert field_verdict(current, wanted, applied, force=force) is verdict


APPLIED = frozenset({"relay-a", "relay-b"})


@pytest.mark.parametrize(
    ("attached", "listed", "applied", "name", "force", "verdict"),
    [
        (True, True, APPLIED, "relay-a", False, Verdict.SAME),
        (False, False, APPLIED, "relay-x", False, Verdict.SAME),
        (False, True, APPLIED, "relay-c", False, Verdict.APPLY),  # newly listed: attached
        (True, False, APPLIED, "relay-b", False, Verdict.APPLY),  # the file dropped it
        (True, False, None, "relay-b", False, Verdict.APPLY),  # never applied: the file's list
        # Attached in the pages since the last apply: not detached.
        (True, False, APPLIED, "relay-x", False, Verdict.DRIFT),
        (True, False, APPLIED, "relay-x", True, Verdict.APPLY),
        # Detached in the pages since the last apply: not attached again.
        (False, True, APPLIED, "relay-a", False, Verdict.DRIFT),
    ],
)
def test_member_verdict(
    attached: bool,
    listed: bool,
    applied: frozenset[str] | None,
    name: str,
    force: bool,
    verdict: Verdict,
) -> None:
    assert member_verdict(attached, listed, applied, name, force=force) is verdict
