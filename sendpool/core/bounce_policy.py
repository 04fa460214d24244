"""When a reported bounce suppresses its recipient, and when a server's rates pause it.

A hard bounce or a complaint suppresses the address for the customer at once;
a soft bounce only when it repeats (a full mailbox is emptied, a down server
comes back): ``soft_limit`` of them within ``soft_days``. A reputation report
never does: it is about the sending server (docs/design.md §6), and counts
against the server's figures instead.

Rates act only over ``min_volume`` sends: three bounces in the first twenty
sends of a new server are noise, not a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sendpool.core.reports.kinds import ReportKind


@dataclass(frozen=True, slots=True)
class BouncePolicy:
    soft_limit: int = 3  # soft bounces of one address ...
    soft_days: int = 7  # ... within this many days suppress it
    min_volume: int = 500  # sends in the window before any rate acts (pause, rebalance, gate)
    pause_bounce_rate: float = 0.05
    pause_complaint_rate: float = 0.001


def suppresses(kind: ReportKind, soft_before: int, policy: BouncePolicy) -> bool:
    """Whether this report suppresses its recipient; ``soft_before`` counts the soft
    bounces of the address already seen within ``policy.soft_days``."""
    if kind in (ReportKind.HARD, ReportKind.COMPLAINT):
        return True
    if kind is ReportKind.SOFT:
        return soft_before + 1 >= policy.soft_limit
    return False


def sends_that_matter(bounces: int, complaints: int, policy: BouncePolicy) -> int | None:
    """How many sends are worth counting to decide a pause; None when no count could pause.

    A pause needs at least ``min_volume`` sends, and at most bounces / rate (or
    complaints / rate) of them: past that the rates are under the thresholds.
    So too few events can pause nothing whatever was sent, and otherwise sends
    need counting only up to a little past that bound (one more, and one for
    the rounding of the division), not the whole day's.
    """
    most = max(bounces / policy.pause_bounce_rate, complaints / policy.pause_complaint_rate)
    if most < policy.min_volume:
        return None
    return int(most) + 2


def _percent(rate: float) -> str:
    """0.31 % below one per cent, 6.2 % above it."""
    value = 100 * rate
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def pause_reason(sent: int, bounces: int, complaints: int, policy: BouncePolicy) -> str | None:
    """Why a server's figures over its window pause it, with the figures; None if they do not.

    "complaint rate 0.31 % over 2,140 sends", "bounce rate 6.2 % over 1,000 sends",
    or both, joined with "; ".
    """
    if sent <= 0 or sent < policy.min_volume:
        return None
    reasons = []
    if bounces / sent >= policy.pause_bounce_rate:
        reasons.append(f"bounce rate {_percent(bounces / sent)} % over {sent:,} sends")
    if complaints / sent >= policy.pause_complaint_rate:
        reasons.append(f"complaint rate {_percent(complaints / sent)} % over {sent:,} sends")
    return "; ".join(reasons) or None
