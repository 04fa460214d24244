"""The pool file's ``[[backoff_rules]]``: checked with the file, applied as one list.

Each entry is an adaptive back-off rule (core/backoff_rules.py). Left out, the
rules stay as they are; given (even as ``backoff_rules = []``), the file's list
is the operator's rules afterwards. A rule named like a shipped one replaces it.
Durations are seconds (a number) or a number with a unit: "90s", "10m", "2h".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection

from sendpool.core.backoff_rules import BackoffRule, BackoffRuleError, make_rule
from sendpool.core.providers import with_shipped
from sendpool.errors import ConfigError
from sendpool.services.operations.audit import write_audit
from sendpool.services.pool.diff import ApplyReport
from sendpool.store.backoff_rules import replace_rules, stored_rules
from sendpool.store.providers import load_providers

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h)?")
_UNIT = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}
Duration = float | int | str
WHAT = "backoff rules"


def _seconds(field: str, value: Duration) -> timedelta:
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.strip())
        if m is None:
            raise BackoffRuleError(
                field, f'{value!r} is not a duration: say 90, "90s", "10m" or "2h"'
            )
        return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    return timedelta(seconds=float(value))


class BackoffRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    group: str
    code: int | None = None
    enhanced: str | None = None
    pattern: str | None = None
    hits: int = 2
    window: Duration = "10m"
    factor: float = 0.5
    hold: Duration = "30m"
    recover_step: float = 0.1
    recover_every: Duration = "5m"

    @model_validator(mode="after")
    def _buildable(self) -> BackoffRuleIn:
        try:
            self.rule()
        except BackoffRuleError as exc:
            raise ValueError(str(exc)) from None
        return self

    def rule(self) -> BackoffRule:
        return make_rule(
            name=self.name,
            group=self.group,
            code=self.code,
            enhanced=self.enhanced,
            pattern=self.pattern,
            hits=self.hits,
            window=_seconds("window", self.window),
            factor=self.factor,
            hold=_seconds("hold", self.hold),
            recover_step=self.recover_step,
            recover_every=_seconds("recover_every", self.recover_every),
        )


def _one_name_each(rules: list[BackoffRuleIn] | None) -> list[BackoffRuleIn] | None:
    seen: dict[str, int] = {}
    for i, r in enumerate(rules or []):
        j = seen.setdefault(r.name, i)
        if j != i:
            raise ValueError(
                f"backoff_rules[{j}] and backoff_rules[{i}] are both named {r.name!r}; keep one"
            )
    return rules


BackoffRules = Annotated[
    list[BackoffRuleIn] | None, AfterValidator(_one_name_each), Field(max_length=200)
]


def apply_backoff_rules(
    conn: Connection, rules: list[BackoffRuleIn] | None, report: ApplyReport, now: datetime
) -> None:
    """Store the file's rules if they differ from the stored ones, and audit the change."""
    if rules is None:
        return
    known = {g.name for g in with_shipped(load_providers(conn)[0])}
    for i, r in enumerate(rules):
        if r.group not in known:
            raise ConfigError(
                f"backoff_rules[{i}] ({r.name}): group: {r.group!r} is not a provider group "
                f"(known: {', '.join(sorted(known))}; declare it under [[provider_groups]]); "
                "nothing was changed"
            )
    wanted = [r.rule() for r in rules]
    before = stored_rules(conn)
    if [_said(r) for r in before] == [_said(r) for r in wanted]:
        report.unchanged.append(WHAT)
        return
    replace_rules(conn, wanted)
    report.updated.append(WHAT)
    detail = {"before": [_said(r) for r in before], "after": [_said(r) for r in wanted]}
    write_audit(conn, actor="pool file", action="pool.backoff_rules.update", now=now, detail=detail)


def _said(r: BackoffRule) -> dict[str, Any]:
    return {
        "name": r.name,
        "group": r.group,
        "code": r.code,
        "enhanced": r.enhanced,
        "pattern": None if r.pattern is None else r.pattern.pattern,
        "hits": r.hits,
        "window": r.window.total_seconds(),
        "factor": r.factor,
        "hold": r.hold.total_seconds(),
        "recover_step": r.recover_step,
        "recover_every": r.recover_every.total_seconds(),
    }
