"""The pool as configuration: the schema of pool.toml, checked before anything is written.

A server's keys are the common ones of services/servers/fields.py (plans list
their servers under [[plans]]) plus its type's own. Its status is written
`status = "active"|"disabled"` or, as its alias, `enabled = true|false`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from sendpool.core.sender_domains import clashes
from sendpool.errors import ConfigError
from sendpool.services.errors import FieldError
from sendpool.services.pool.backoff_rules import BackoffRules
from sendpool.services.pool.providers import ProviderGroupIn, ProviderLimitIn, check_providers
from sendpool.services.servers.changes import check_settings
from sendpool.services.servers.fields import (
    MAX_COUNT,
    STATUS_ALIAS,
    Name,
    NameRef,
    model_from,
    pool_fields,
    status_of,
)
from sendpool.services.tenancy.sending_domains import normalise_domain
from sendpool.services.tenancy.weights import SelectorName, Weight
from sendpool.transports.registry import ServerSettingsError, server_type


class _ServerBase(BaseModel):
    # Strict like the API: "5000" is not a limit; a type's own keys ride along as extras.
    model_config = ConfigDict(extra="allow", strict=True)

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


if TYPE_CHECKING:
    ServerIn = _ServerBase
else:
    ServerIn = model_from(
        "ServerIn",
        pool_fields(),
        base=_ServerBase,
        doc="One [[servers]] entry: the common keys, then the type's own settings and *_env names.",
    )


# Strict like the servers: `burst_threshold = true` is not 1, and "5000" is not a number.
_STRICT = ConfigDict(extra="forbid", strict=True)
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class PlanServerIn(BaseModel):
    """``{ name = "relay-a", weight = 3 }``: a server of the plan and its weight in it."""

    model_config = _STRICT
    name: NameRef
    weight: Weight = 1


class PlanIn(BaseModel):
    model_config = _STRICT
    name: Name
    # A name, or an inline table with its weight: `servers = ["a", { name = "b", weight = 3 }]`.
    servers: list[NameRef | PlanServerIn] = Field(default_factory=list)
    burst_threshold: int | None = Field(None, ge=1, le=MAX_COUNT)
    selector: SelectorName | None = None

    @property
    def server_names(self) -> list[str]:
        return [s if isinstance(s, str) else s.name for s in self.servers]

    @property
    def weights(self) -> dict[str, int]:
        """Each listed server's weight, 1 for a bare name."""
        return {s: 1 for s in self.servers if isinstance(s, str)} | {
            s.name: s.weight for s in self.servers if not isinstance(s, str)
        }


class CustomerIn(BaseModel):
    model_config = _STRICT
    name: Name
    plan: NameRef | None = None
    region: Region | None = None
    # Given: the customer's domains are exactly these. Left out: they are left alone.
    sending_domains: list[str] | None = Field(None, max_length=1000)

    @field_validator("sending_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            # Sorted and without repeats, so the file's spelling never reads as a change.
            return sorted({normalise_domain(d, "sending_domains") for d in value})
        except FieldError as exc:
            raise ValueError(exc.errors[0][1]) from None


def _domain_clash(customers: list[CustomerIn]) -> None:
    """Two customers of the file that claim one domain: refused before anything is written."""
    claims = [(c.name, d) for c in customers for d in c.sending_domains or []]
    for i, (owner, entry) in enumerate(claims):
        for other, theirs in claims[i + 1 :]:
            if owner != other and clashes(entry, theirs):
                raise ConfigError(
                    f"customers {owner!r} and {other!r} both claim {entry}"
                    + (f" (as {theirs})" if theirs != entry else "")
                    + "; a sending domain belongs to one customer: keep it under one of them"
                )


class RegionRuleIn(BaseModel):
    model_config = _STRICT
    region: Region
    plan: NameRef


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    servers: list[ServerIn] = Field(default_factory=list)
    plans: list[PlanIn] = Field(default_factory=list)
    customers: list[CustomerIn] = Field(default_factory=list)
    region_rules: list[RegionRuleIn] = Field(default_factory=list)
    # Provider groups and per server x group limits (services/pool/providers.py); left out:
    # left alone.
    provider_groups: list[ProviderGroupIn] | None = None
    provider_limits: list[ProviderLimitIn] | None = None
    backoff_rules: BackoffRules = None  # adaptive back-off (services/pool/backoff_rules.py)


def _said(errors: list[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {message}" for field, message in errors)


class ServerDecl:
    """A server from the file with its type's settings checked and its secrets read.

    ``values`` holds the common keys as they are stored, the status resolved
    from either of its spellings. ``named`` says which of them the entry
    wrote: those are the file's, the others are left as they are on a server
    that exists (and take their defaults on a new one).
    """

    def __init__(
        self,
        name: str,
        values: dict[str, Any],
        settings: dict[str, Any],
        secrets: dict[str, str],
        named: frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.values = values
        self.settings = settings
        self.secrets = secrets
        self.named = frozenset(values) if named is None else named


def _common(where: str, s: BaseModel) -> dict[str, Any]:
    values = s.model_dump(mode="json", exclude={STATUS_ALIAS, *(s.model_extra or {})})
    enabled = getattr(s, STATUS_ALIAS)
    if enabled is not None and values["status"] is not None:
        raise ConfigError(f"{where}: {STATUS_ALIAS}: give status or {STATUS_ALIAS}, not both")
    if values["status"] is None:
        values["status"] = status_of(enabled is not False)
    return values


def _split(index: int, s: Any, env: Mapping[str, str]) -> ServerDecl:
    where = f"servers[{index}] ({s.name})"
    values = _common(where, s)
    try:
        st = server_type(s.type)
    except ServerSettingsError as exc:
        raise ConfigError(f"{where}: {_said(exc.errors)}") from None
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in s.extras().items():
        if key.endswith("_env") and key.removesuffix("_env") in st.secret_fields:
            var = str(value)
            if var not in env:
                raise ConfigError(
                    f"{where}: environment variable {var} is not set (named by {key}); "
                    f"export it and apply again"
                )
            secrets[key.removesuffix("_env")] = env[var]
        elif key in st.secret_fields:
            raise ConfigError(
                f"{where}: {key} must not be written in the file; "
                f"put it in an environment variable and name it with {key}_env"
            )
        else:
            settings[key] = value
    try:
        checked = check_settings(s.type, settings)
    except FieldError as exc:
        raise ConfigError(f"{where}: {_said(exc.errors)}") from None
    written = set(s.model_fields_set) | {"name", "type"}
    if STATUS_ALIAS in written:
        written.add("status")
    return ServerDecl(s.name, values, checked, secrets, frozenset(written & set(values)))


def _one_each(section: str, names: list[str], *, fold: bool = True, what: str = "named") -> None:
    """Two entries of one name would be applied in turn, the later silently winning."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = name.casefold() if fold else name
        j = seen.setdefault(key, i)
        if j == i:
            continue
        said = f"{section}[{j}] and {section}[{i}] are both {what} {names[j]!r}"
        if names[j] != name:
            said += f" (as {name!r}; names are unique without regard to case)"
        raise ConfigError(f"{said}; keep one of them and apply again; nothing was changed")


def _no_repeats(pool: PoolFile, servers: list[ServerDecl]) -> None:
    _one_each("servers", [d.name for d in servers])
    _one_each("plans", [p.name for p in pool.plans])
    _one_each("customers", [c.name for c in pool.customers])
    # Regions are tags matched as written (core/plans.py), so "EU" is not "eu".
    _one_each("region_rules", [r.region for r in pool.region_rules], fold=False, what="for region")


def parse_pool(
    data: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[PoolFile, list[ServerDecl]]:
    try:
        pool = PoolFile.model_validate(dict(data))
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("the pool file is not valid:\n  " + "\n  ".join(lines)) from None
    decls = [_split(i, s, env) for i, s in enumerate(pool.servers)]
    _no_repeats(pool, decls)
    _domain_clash(pool.customers)
    check_providers(pool.provider_groups, pool.provider_limits)
    return pool, decls


def load_pool_file(path: Path, env: Mapping[str, str]) -> tuple[PoolFile, list[ServerDecl]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_pool(data, env)
