"""A plan's weights from the pool file: each listed server's weight, with drift as for fields.

The file owns the weight of every server it lists in a plan (1 for a bare
name). The weight the last apply wrote is kept in ``plans.pool_applied``
under "weights"; a weight changed elsewhere since (the API) is drift,
reported as ``weights: <server>`` and kept unless ``--force``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from sendpool.core.pool_drift import NOT_APPLIED, Verdict, field_verdict
from sendpool.services.pool.diff import ApplyReport, FieldChange
from sendpool.store.tables import Plan, PlanServer


def apply_weights(
    session: Session,
    plan: Plan,
    wanted: Mapping[str, int],
    ids: Mapping[str, int],
    what: str,
    report: ApplyReport,
    *,
    force: bool,
) -> bool:
    """Write the file's weights (server name -> weight) on the plan's attachments.

    ``ids``: server name -> id, for the servers listed. A listed server the
    plan does not hold (kept out as drift) has no weight to set. Returns
    whether a weight changed.
    """
    applied = dict((plan.pool_applied or {}).get("weights") or {})
    changed = False
    for name, weight in sorted(wanted.items()):
        row = session.get(PlanServer, (plan.id, ids[name]))
        if row is None:
            continue
        current = 1 if row.weight is None else row.weight  # attached in this apply: 1
        verdict = field_verdict(current, weight, applied.get(name, NOT_APPLIED), force=force)
        if verdict is Verdict.DRIFT:
            report.drift.append(FieldChange(what, f"weights: {name}", current, weight))
            continue
        if verdict is Verdict.APPLY:
            row.weight = weight
            report.changes.append(FieldChange(what, f"weights: {name}", current, weight))
            changed = True
        applied[name] = weight
    plan.pool_applied = {**(plan.pool_applied or {}), "weights": applied}
    return changed
