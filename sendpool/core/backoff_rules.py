"""Back-off rules: which deferrals from which provider group slow a server down, and how.

A rule names a provider group and what a deferral must look like (the SMTP reply
code, the RFC 3463 enhanced code, a regular expression over the text; each one
optional, at least one given), how many such deferrals within a window engage
it, and what it does then: scale the server's rate to that group by ``factor``,
hold it ``hold``, then give back ``recover_step`` of the full rate every
``recover_every``. Rules are built once (their regular expression compiled
then) and judged many times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sendpool.core.backoff import BackoffState, deepen, is_over

_ENHANCED = re.compile(r"4\.\d{1,3}\.\d{1,3}")
# A DSN's Diagnostic-Code (RFC 3464 §2.3.6), as vendors pass it on, starts "smtp; 421 ...".
_REPLY_CODE = re.compile(r"^\s*(?:smtp;\s*)?([45]\d\d)[ -]", re.IGNORECASE)
_REPLY_ENHANCED = re.compile(r"\b([45]\.\d{1,3}\.\d{1,3})\b")


class BackoffRuleError(ValueError):
    """A rule that cannot be built, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Deferral:
    """One temporary refusal of one message: an SMTP 4xx reply or a vendor's deferral event."""

    server_id: int
    group: str | None  # the recipient's provider group; None: no group, no rule applies
    code: int | None
    enhanced: str | None
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class BackoffRule:
    name: str
    group: str
    code: int | None
    enhanced: str | None
    pattern: re.Pattern[str] | None
    hits: int
    window: timedelta
    factor: float
    hold: timedelta
    recover_step: float
    recover_every: timedelta

    def matches(self, d: Deferral) -> bool:
        return (
            d.group == self.group
            and (self.code is None or d.code == self.code)
            and (self.enhanced is None or d.enhanced == self.enhanced)
            and (self.pattern is None or self.pattern.search(d.text) is not None)
        )

    def describe(self) -> str:
        """What it waits for, in an operator's words: "421 4.7.28 from gmail twice in 10 min"."""
        parts = [str(p) for p in (self.code, self.enhanced) if p is not None]
        if self.pattern is not None:
            parts.append(f"/{self.pattern.pattern}/")
        times = {1: "once", 2: "twice"}.get(self.hits, f"{self.hits} times")
        return f"{' '.join(parts)} from {self.group} {times} in {_span(self.window)}"


def make_rule(
    *,
    name: str,
    group: str,
    code: int | None = None,
    enhanced: str | None = None,
    pattern: str | None = None,
    hits: int = 2,
    window: timedelta = timedelta(minutes=10),
    factor: float = 0.5,
    hold: timedelta = timedelta(minutes=30),
    recover_step: float = 0.1,
    recover_every: timedelta = timedelta(minutes=5),
) -> BackoffRule:
    """A checked rule; a bad field raises ``BackoffRuleError`` naming it."""
    if not name.strip() or len(name) > 128:
        raise BackoffRuleError("name", "must be 1 to 128 characters")
    if not group.strip() or len(group) > 64:
        raise BackoffRuleError("group", "must be a provider group's name, 1 to 64 characters")
    if code is not None and not 400 <= code <= 499:
        raise BackoffRuleError("code", f"{code} is not a 4xx reply code: only deferrals back off")
    if enhanced is not None and not _ENHANCED.fullmatch(enhanced):
        raise BackoffRuleError("enhanced", f"{enhanced!r} is not a 4.x.y enhanced status code")
    compiled = None
    if pattern is not None:
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise BackoffRuleError("pattern", f"not a valid regular expression: {exc}") from exc
    if code is None and enhanced is None and compiled is None:
        raise BackoffRuleError("code", "give at least one of code, enhanced and pattern")
    if hits < 1:
        raise BackoffRuleError("hits", "must be at least 1")
    for field, span in (("window", window), ("recover_every", recover_every)):
        if span <= timedelta(0):
            raise BackoffRuleError(field, "must be longer than zero")
    if hold < timedelta(0):
        raise BackoffRuleError("hold", "must not be negative")
    if not 0.0 < factor < 1.0:
        raise BackoffRuleError("factor", "must be between 0 and 1 (0.5 halves the rate)")
    if not 0.0 < recover_step <= 1.0:
        raise BackoffRuleError("recover_step", "must be above 0 and at most 1 (0.1 is 10 %)")
    return BackoffRule(
        name=name,
        group=group,
        code=code,
        enhanced=enhanced,
        pattern=compiled,
        hits=hits,
        window=window,
        factor=factor,
        hold=hold,
        recover_step=recover_step,
        recover_every=recover_every,
    )


def merged(operator: Sequence[BackoffRule], shipped: Sequence[BackoffRule]) -> list[BackoffRule]:
    """The operator's rules first; a shipped rule of the same name is replaced by theirs."""
    names = {r.name for r in operator}
    return [*operator, *(r for r in shipped if r.name not in names)]


def matching(rules: Iterable[BackoffRule], d: Deferral) -> list[BackoffRule]:
    return [r for r in rules if r.matches(d)]


def longest_window(rules: Iterable[BackoffRule]) -> timedelta:
    """How long a hit can still count for any rule: older ones can be pruned."""
    return max((r.window for r in rules), default=timedelta(0))


def engage(
    rule: BackoffRule,
    *,
    server_id: int,
    group: str,
    current: BackoffState | None,
    now: datetime,
    base_rate: float | None,
    hits: int,
) -> BackoffState:
    """The back-off ``rule`` puts on a server x group whose hits reached its count.

    An active back-off engaged again scales again from where it stands now and
    holds longer; one that has recovered (or none) starts fresh at the factor.
    """
    reason = f"back-off {rule.name}: {hits} x {rule.describe()}"
    if current is not None and not is_over(current, now):
        return deepen(
            current, now=now, factor=rule.factor, hold=rule.hold, rule=rule.name, reason=reason
        )
    return BackoffState(
        server_id=server_id,
        group=group,
        factor=rule.factor,
        engaged_at=now,
        hold_until=now + rule.hold,
        recover_step=rule.recover_step,
        recover_every=rule.recover_every,
        base_rate=base_rate,
        rule=rule.name,
        reason=reason,
    )


def settling(rule: BackoffRule, current: BackoffState | None, now: datetime) -> bool:
    """Whether deferrals now still answer the rate before the last change: not counted.

    A deferral that comes right after a back-off engaged or went deeper is most
    likely for mail sent at the old rate (in flight, or retried at once); counting
    it would halve again and again for one burst. So the rate changes at most once
    per ``recover_every``, down as up: each change is given a step to show.
    """
    if current is None or is_over(current, now):
        return False
    return now < current.last_change + rule.recover_every


def reply_codes(text: str) -> tuple[int | None, str | None]:
    """The reply code and enhanced code a reply's text carries, for events that give only text."""
    code = _REPLY_CODE.match(text)
    enhanced = _REPLY_ENHANCED.search(text)
    return (
        int(code.group(1)) if code else None,
        enhanced.group(1) if enhanced else None,
    )


def _span(t: timedelta) -> str:
    seconds = int(t.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
