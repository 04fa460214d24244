"""SMTPUTF8 filter: a non-ASCII address goes only to servers known to offer SMTPUTF8.

Domains are sent as A-labels, so only a non-ASCII local part needs the
extension (RFC 6531 §3.3). A server that has not yet said what it offers is
not trusted with such a message: it waits for that server's next check
(docs/design.md §1.2, §1.6). When every server of the plan is known not to
offer it, nothing will ever take the message: ``unsendable`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sendpool.core.filters import FilterResult, Skip, SkipCode, skip
from sendpool.core.filters.health import CHECK_GRACE
from sendpool.core.servers import AddressNeed, DispatchContext, ServerView

# The health checker looks for due checks at least this often (pipeline/health.py).
UNKNOWN_RECHECK = timedelta(seconds=5)


def smtputf8_filter(servers: Sequence[ServerView], ctx: DispatchContext) -> FilterResult:
    if ctx.need is AddressNeed.ASCII:
        return FilterResult(tuple(servers))
    kept: list[ServerView] = []
    skipped: list[Skip] = []
    for s in servers:
        if s.smtputf8:
            kept.append(s)
        elif s.smtputf8 is None:
            reason = "not yet known to offer SMTPUTF8: waiting for its health check"
            skipped.append(skip(s, SkipCode.NO_SMTPUTF8, reason, _answer_due(s, ctx)))
        else:
            skipped.append(skip(s, SkipCode.NO_SMTPUTF8, "does not offer SMTPUTF8"))
    return FilterResult(tuple(kept), tuple(skipped))


def _answer_due(server: ServerView, ctx: DispatchContext) -> datetime:
    """When to look again for a server's answer.

    A degraded server answers at its next check. A healthy one is checked as
    soon as the checker sees it unknown, and its ``next_check_at`` moves an
    interval ahead the moment that check is claimed, long before it ends: so
    look again shortly rather than an interval later.
    """
    if server.degraded and server.next_check_at is not None:
        return max(server.next_check_at, ctx.now + CHECK_GRACE)
    return ctx.now + UNKNOWN_RECHECK


def unsendable(plan_servers: Sequence[ServerView], need: AddressNeed, plan: str) -> str | None:
    """Why no server of the plan can ever take the message, or None while one might.

    A plan without servers is not judged here: the message waits for one to be
    attached, as any message of that plan does.
    """
    if need is AddressNeed.ASCII or not plan_servers:
        return None
    if any(s.smtputf8 is not False for s in plan_servers):
        return None
    names = ", ".join(sorted(s.name for s in plan_servers))
    return (
        "the address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), "
        f"and no server of plan {plan} offers it ({names}); "
        "attach a server that offers SMTPUTF8 to the plan and send the message again"
    )
