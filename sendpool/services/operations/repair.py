"""Lift the suppressions earlier versions made from replies about the sender, not the address.

Before replies about the sender's policy or reputation were server failures
(docs/design.md §1.5), a relay answering ``554 5.7.1 Relay access denied`` at
RCPT suppressed every recipient it was given, for good. Each suppression keeps
the reply it was made from (``reason``, the outcome's ``describe()`` text); this
repair reads each one again with today's classifier (``core.outcomes``,
``suppression_stands``) and lifts those it would not call an address failure.
True hard bounces (5.1.1 user unknown, a vendor's refusal of the address) stand.

Running it again lifts nothing: what it leaves is what stands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from sendpool.core.outcomes import suppression_stands
from sendpool.services.operations.audit import write_audit
from sendpool.store.tables import Customer, Suppression, table

ACTION = "repair.suppressions"
READ_BATCH = 5_000
DELETE_BATCH = 500  # addresses per DELETE: well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class SuppressionRepair:
    """What one run found: per customer name, the suppressions it lifted (or would lift)."""

    dry_run: bool
    examined: int
    lifted_by_customer: dict[str, int]

    @property
    def lifted(self) -> int:
        return sum(self.lifted_by_customer.values())


def repair_suppressions(
    conn: Connection, *, now: datetime, dry_run: bool, actor: str
) -> SuppressionRepair:
    """Lift every suppression whose reason is no address failure; audit the run unless ``dry_run``."""
    S, C = table(Suppression), table(Customer)
    # Streamed, on the statement only: a connection-wide yield_per would make the
    # DELETEs below server-side cursors too, which PostgreSQL refuses.
    rows = conn.execute(
        select(S.c.customer_id, C.c.name, S.c.email, S.c.reason)
        .join(C, C.c.id == S.c.customer_id)
        .order_by(S.c.customer_id, S.c.email)
        .execution_options(yield_per=READ_BATCH)
    )
    examined = 0
    lift: dict[tuple[int, str], list[str]] = defaultdict(list)
    for customer_id, customer, email, reason in rows:
        examined += 1
        if not suppression_stands(reason or ""):
            lift[(customer_id, customer)].append(email)
    by_customer = {name: len(emails) for (_, name), emails in sorted(lift.items())}
    run = SuppressionRepair(dry_run, examined, by_customer)
    if dry_run:
        return run
    for (customer_id, _), emails in lift.items():
        for start in range(0, len(emails), DELETE_BATCH):
            chunk = emails[start : start + DELETE_BATCH]
            conn.execute(delete(S).where(S.c.customer_id == customer_id, S.c.email.in_(chunk)))
    write_audit(
        conn,
        actor=actor,
        action=ACTION,
        now=now,
        detail={"lifted": run.lifted, "examined": examined, "by_customer": by_customer},
    )
    return run
