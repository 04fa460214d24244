"""The operator's back-off rules as the pool file left them, built once per change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, delete, select

from sendpool.core.backoff_rules import BackoffRule, make_rule, merged
from sendpool.store.base import table
from sendpool.store.tables_backoffs import BackoffRuleRow

_COLUMNS = (
    "name",
    "group_name",
    "code",
    "enhanced",
    "pattern",
    "hits",
    "window_seconds",
    "factor",
    "hold_seconds",
    "recover_step",
    "recover_every_seconds",
)
# Rows as read -> the rules built from them: every write-back reads the rows (a
# few at most), and their regular expressions are compiled only when they change.
_built: dict[tuple[tuple[object, ...], ...], list[BackoffRule]] = {}


def operator_rules(conn: Connection, shipped: Sequence[BackoffRule]) -> list[BackoffRule]:
    """The operator's rules in the file's order, then the shipped ones they do not replace."""
    T = table(BackoffRuleRow)
    cols = [T.c[c] for c in _COLUMNS]
    rows = tuple(tuple(r) for r in conn.execute(select(*cols).order_by(T.c.position)))
    rules = _built.get(rows)
    if rules is None:
        rules = merged([_rule(r) for r in rows], shipped)
        if len(_built) > 16:
            _built.clear()
        _built[rows] = rules
    return rules


def replace_rules(conn: Connection, rules: Sequence[BackoffRule]) -> None:
    """The pool file's rules replace the operator's rules there were."""
    T = table(BackoffRuleRow)
    conn.execute(delete(T))
    if rules:
        conn.execute(T.insert(), [_row(i, r) for i, r in enumerate(rules)])


def stored_rules(conn: Connection) -> list[BackoffRule]:
    """The operator's rules alone, as stored."""
    T = table(BackoffRuleRow)
    cols = [T.c[c] for c in _COLUMNS]
    return [_rule(tuple(r)) for r in conn.execute(select(*cols).order_by(T.c.position))]


def _rule(r: tuple[object, ...]) -> BackoffRule:
    v = dict(zip(_COLUMNS, r, strict=True))
    return make_rule(
        name=str(v["name"]),
        group=str(v["group_name"]),
        code=None if v["code"] is None else int(str(v["code"])),
        enhanced=None if v["enhanced"] is None else str(v["enhanced"]),
        pattern=None if v["pattern"] is None else str(v["pattern"]),
        hits=int(str(v["hits"])),
        window=timedelta(seconds=float(str(v["window_seconds"]))),
        factor=float(str(v["factor"])),
        hold=timedelta(seconds=float(str(v["hold_seconds"]))),
        recover_step=float(str(v["recover_step"])),
        recover_every=timedelta(seconds=float(str(v["recover_every_seconds"]))),
    )


def _row(position: int, r: BackoffRule) -> dict[str, object]:
    return {
        "position": position,
        "name": r.name,
        "group_name": r.group,
        "code": r.code,
        "enhanced": r.enhanced,
        "pattern": None if r.pattern is None else r.pattern.pattern,
        "hits": r.hits,
        "window_seconds": r.window.total_seconds(),
        "factor": r.factor,
        "hold_seconds": r.hold.total_seconds(),
        "recover_step": r.recover_step,
        "recover_every_seconds": r.recover_every.total_seconds(),
    }
