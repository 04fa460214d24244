"""The field-level diff of a pool apply: what changes, what was changed elsewhere (drift).

Which fields the file owns: a server's entry owns the keys it writes (and
always its type, connection settings and secrets); a plan owns its list of
servers, the weight of each (plan_weights.py) and, if written, its burst
threshold and selector. A field the file owns that
was changed elsewhere since the last apply is drift (core/pool_drift.py):
reported, and kept unless ``--force``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sendpool.core.pool_drift import NOT_APPLIED, Verdict, field_verdict, member_verdict
from sendpool.core.room import adds_room

HIDDEN = "(hidden)"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one thing: ``current`` in the database, ``wanted`` by the file."""

    what: str  # "server relay-a", "plan Marketing"
    field: str
    current: Any
    wanted: Any

    def as_audit(self) -> dict[str, Any]:
        return {"from": self.current, "to": self.wanted}


@dataclass(slots=True)
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changes: list[FieldChange] = field(default_factory=list)  # written (or, dry, to be)
    drift: list[FieldChange] = field(default_factory=list)  # changed elsewhere: kept

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def of(self, what: str) -> dict[str, dict[str, Any]]:
        return {c.field: c.as_audit() for c in self.changes if c.what == what}


def apply_fields(
    obj: Any,
    values: Mapping[str, Any],
    what: str,
    report: ApplyReport,
    *,
    force: bool,
    hidden: frozenset[str] = frozenset(),
) -> tuple[bool, bool]:
    """Write the file's ``values`` on ``obj`` but drift; keep the applied values beside them.

    Returns (changed, adds room); ``obj.pool_applied`` becomes what this apply
    left for each field (the old record for a field kept as drift, so it is
    reported again until settled).
    """
    applied = dict(getattr(obj, "pool_applied", None) or {})
    changed = room = False
    for key, wanted in values.items():
        current = getattr(obj, key)
        verdict = field_verdict(current, wanted, applied.get(key, NOT_APPLIED), force=force)
        shown = (HIDDEN, HIDDEN) if key in hidden else (current, wanted)
        if verdict is Verdict.DRIFT:
            report.drift.append(FieldChange(what, key, *shown))
            continue
        if verdict is Verdict.APPLY:
            setattr(obj, key, wanted)
            report.changes.append(FieldChange(what, key, *shown))
            changed = True
            room = room or adds_room(key, current, wanted)
        if key not in hidden:
            applied[key] = wanted
    obj.pool_applied = applied  # a new dict: SQLAlchemy sees the change
    return changed, room


def member_changes(
    have: set[str],
    want: set[str],
    applied: frozenset[str] | None,
    what: str,
    report: ApplyReport,
    *,
    force: bool,
) -> tuple[set[str], set[str], set[str]]:
    """(attach, detach, what the plan's record of applied servers becomes), by server name."""
    attach: set[str] = set()
    detach: set[str] = set()
    record = set(applied or ())
    for name in sorted(have | want):
        attached, listed = name in have, name in want
        verdict = member_verdict(attached, listed, applied, name, force=force)
        if verdict is Verdict.DRIFT:
            report.drift.append(FieldChange(what, f"servers: {name}", attached, listed))
            continue
        if verdict is Verdict.APPLY:
            (attach if listed else detach).add(name)
            report.changes.append(FieldChange(what, f"servers: {name}", attached, listed))
        if listed:
            record.add(name)
        else:
            record.discard(name)
    return attach, detach, record
