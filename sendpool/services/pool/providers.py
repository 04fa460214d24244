"""The pool file's provider groups and per server x group limits: schema, checks and apply.

``[[provider_groups]]`` (name, domains, mx), when the key is present, are the
operator's groups exactly: one left out of the file is removed (refused while
a limit that stays still names it). A group named like a shipped one (gmail,
yahoo, outlook, icloud) replaces it (core/providers.py).

``[[provider_limits]]`` (server, group, rate_per_second, burst,
max_connections, messages_per_connection), when the key is present, are
exactly the limits of every server the file names (in ``[[servers]]`` or
here); servers the file does not name keep theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection, delete, select

from sendpool.core.providers import SHIPPED_NAMES, pattern_problem
from sendpool.errors import ConfigError
from sendpool.services.errors import FieldError
from sendpool.services.operations.audit import write_audit
from sendpool.services.pool.diff import ApplyReport, FieldChange
from sendpool.services.tenancy.sending_domains import normalise_domain
from sendpool.store.tables import SendingServer, table
from sendpool.store.tables_providers import ProviderGroupRow, ProviderLimit

ACTOR = "pool file"
MAX_RATE = 100_000.0  # a second's sends to one group from one server: far past any provider
MAX_PER_CONNECTION = 1_000_000
MAX_CONNECTIONS = 1_000
LIMIT_FIELDS = ("rate_per_second", "burst", "max_connections", "messages_per_connection")
_STRICT = ConfigDict(extra="forbid", strict=True)
GroupName = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
]


def _domains(values: Iterable[str], what: str, *, patterns: bool) -> list[str]:
    out: list[str] = []
    for v in values:
        try:
            d = normalise_domain(v, what)
        except FieldError as exc:
            raise ValueError(exc.errors[0][1]) from None
        problem = pattern_problem(d) if patterns else None
        if not patterns and d.startswith("*."):
            problem = f"{v!r}: domains match whole; a wildcard belongs in mx (as '*.google.com')"
        if problem is not None:
            raise ValueError(f"{v!r}: {problem}" if patterns else problem)
        out.append(d)
    return sorted(set(out))  # the file's spelling and order never read as a change


class ProviderGroupIn(BaseModel):
    """One ``[[provider_groups]]`` entry."""

    model_config = _STRICT
    name: GroupName
    domains: list[str] = Field(default_factory=list, max_length=10_000)
    mx: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("domains")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _domains(value, "domains", patterns=False)

    @field_validator("mx")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _domains(value, "mx", patterns=True)

    @model_validator(mode="after")
    def _checked(self) -> ProviderGroupIn:
        if not self.domains and not self.mx:
            raise ValueError("give its domains, its mx host patterns, or both")
        return self


class ProviderLimitIn(BaseModel):
    """One ``[[provider_limits]]`` entry: a server's limits to a group."""

    model_config = _STRICT
    server: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    group: GroupName
    rate_per_second: float | None = Field(None, gt=0, le=MAX_RATE)
    burst: int | None = Field(None, ge=1, le=int(MAX_RATE))
    max_connections: int | None = Field(None, ge=1, le=MAX_CONNECTIONS)
    messages_per_connection: int | None = Field(None, ge=1, le=MAX_PER_CONNECTION)

    @model_validator(mode="after")
    def _checked(self) -> ProviderLimitIn:
        if all(getattr(self, f) is None for f in LIMIT_FIELDS):
            raise ValueError(f"give at least one of {', '.join(LIMIT_FIELDS)}")
        if self.burst is not None and self.rate_per_second is None:
            raise ValueError("burst: a burst needs a rate_per_second")
        return self

    def values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in LIMIT_FIELDS}


def check_providers(
    groups: Sequence[ProviderGroupIn] | None, limits: Sequence[ProviderLimitIn] | None
) -> None:
    """What the file alone can tell: repeats, a domain in two groups, a limit named twice."""
    owner: dict[str, str] = {}
    seen: dict[str, int] = {}
    for i, g in enumerate(groups or ()):
        j = seen.setdefault(g.name, i)
        if j != i:
            raise ConfigError(
                f"provider_groups[{j}] and provider_groups[{i}] are both named {g.name!r}; "
                "keep one of them and apply again; nothing was changed"
            )
        for d in g.domains:
            other = owner.setdefault(d, g.name)
            if other != g.name:
                raise ConfigError(
                    f"provider_groups[{i}] ({g.name}): domains: {d} is already in group "
                    f"{other!r}; a domain belongs to one group; nothing was changed"
                )
    pairs: dict[tuple[str, str], int] = {}
    for i, lim in enumerate(limits or ()):
        key = (lim.server.casefold(), lim.group)
        j = pairs.setdefault(key, i)
        if j != i:
            raise ConfigError(
                f"provider_limits[{j}] and provider_limits[{i}] are both for server "
                f"{lim.server!r} and group {lim.group!r}; keep one of them; nothing was changed"
            )


def _current_groups(conn: Connection) -> dict[str, tuple[list[str], list[str]]]:
    G = ProviderGroupRow
    rows = conn.execute(select(G.name, G.domains, G.mx).order_by(G.id))
    return {str(n): (sorted(d or []), sorted(m or [])) for n, d, m in rows}


def apply_providers(
    conn: Connection,
    report: ApplyReport,
    groups: Sequence[ProviderGroupIn] | None,
    limits: Sequence[ProviderLimitIn] | None,
    named_servers: Iterable[str],
    now: datetime,
) -> None:
    """Write the file's groups and limits; every change reported and audited as "pool file"."""
    current = _current_groups(conn)
    wanted = {g.name: (g.domains, g.mx) for g in groups} if groups is not None else dict(current)
    servers = {
        str(name).casefold(): (int(i), str(name))
        for i, name in conn.execute(select(SendingServer.id, SendingServer.name))
    }
    known = SHIPPED_NAMES | set(wanted)
    for i, lim in enumerate(limits or ()):
        where = f"provider_limits[{i}] ({lim.server} x {lim.group})"
        if lim.server.casefold() not in servers:
            raise ConfigError(
                f"{where}: server: unknown server {lim.server!r}; nothing was changed"
            )
        if lim.group not in known:
            raise ConfigError(
                f"{where}: group: unknown provider group {lim.group!r}; the shipped ones are "
                f"{', '.join(sorted(SHIPPED_NAMES))}, others are declared under "
                "[[provider_groups]]; nothing was changed"
            )
    owned: set[int] = set()
    if limits is not None:
        names = [*named_servers, *(lim.server for lim in limits)]
        owned = {servers[n.casefold()][0] for n in names if n.casefold() in servers}
    have = {
        (int(r.server_id), str(r.group_name)): {f: getattr(r, f) for f in LIMIT_FIELDS}
        for r in conn.execute(select(ProviderLimit))
    }
    # A group the file removes must not be named by a limit that stays.
    for (sid, group), _ in have.items():
        if group not in known and sid not in owned:
            name = next(n for i, n in servers.values() if i == sid)
            raise ConfigError(
                f"provider_groups: group {group!r} is left out of the file but server "
                f"{name!r} still has limits to it; remove them (or keep the group); "
                "nothing was changed"
            )
    _apply_groups(conn, report, current, wanted, groups, now)
    if limits is not None:
        want = {(servers[lim.server.casefold()][0], lim.group): lim.values() for lim in limits}
        label = {i: n for i, n in servers.values()}
        _apply_limits(conn, report, have, want, owned, label, now)


def _apply_groups(
    conn: Connection,
    report: ApplyReport,
    current: dict[str, tuple[list[str], list[str]]],
    wanted: dict[str, tuple[list[str], list[str]]],
    groups: Sequence[ProviderGroupIn] | None,
    now: datetime,
) -> None:
    if groups is None or list(current.items()) == list(wanted.items()):
        for name in wanted if groups is not None else ():
            report.unchanged.append(f"provider group {name}")
        return
    for name in sorted(set(current) | set(wanted)):
        what = f"provider group {name}"
        before, after = current.get(name), wanted.get(name)
        if before == after:
            report.unchanged.append(what)
            continue
        (report.created if before is None else report.updated).append(what)
        for k, field in enumerate(("domains", "mx")):
            old = before[k] if before else None
            new = after[k] if after else None
            if old != new:
                report.changes.append(FieldChange(what, field, old, new))
        action = "create" if before is None else "delete" if after is None else "update"
        detail = {"group": name, "from": before, "to": after}
        write_audit(
            conn, actor=ACTOR, action=f"pool.provider_group.{action}", now=now, detail=detail
        )
    # Replaced as a whole, in the file's order: that order is the groups' precedence.
    conn.execute(delete(ProviderGroupRow))
    for name, (domains, mx) in wanted.items():
        conn.execute(table(ProviderGroupRow).insert().values(name=name, domains=domains, mx=mx))


def _apply_limits(
    conn: Connection,
    report: ApplyReport,
    have: dict[tuple[int, str], dict[str, Any]],
    want: dict[tuple[int, str], dict[str, Any]],
    owned: set[int],
    label: dict[int, str],
    now: datetime,
) -> None:
    keys = sorted({k for k in have if k[0] in owned} | set(want))
    for sid, group in keys:
        before, after = have.get((sid, group)), want.get((sid, group))
        what = f"provider limits {label[sid]} x {group}"
        if before == after:
            report.unchanged.append(what)
            continue
        (report.created if before is None else report.updated).append(what)
        for f in LIMIT_FIELDS:
            old = before.get(f) if before else None
            new = after.get(f) if after else None
            if old != new:
                report.changes.append(FieldChange(what, f, old, new))
        where = (ProviderLimit.server_id == sid, ProviderLimit.group_name == group)
        conn.execute(delete(ProviderLimit).where(*where))
        if after is not None:
            conn.execute(
                table(ProviderLimit).insert().values(server_id=sid, group_name=group, **after)
            )
        action = "create" if before is None else "delete" if after is None else "update"
        detail = {"server": label[sid], "group": group, "from": before, "to": after}
        write_audit(
            conn,
            actor=ACTOR,
            action=f"pool.provider_limit.{action}",
            now=now,
            detail=detail,
            server_id=sid,
        )
