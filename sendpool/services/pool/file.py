"""The pool as configuration: the schema of pool.toml, checked before anything is written.

A server's keys are the common ones of services/servers/fields.py (plans list
their servers under [[plans]]) plus its type's own. Its status is written
`status = "active"|"disabled"` or, as its alias, `enabled = true|false`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sendpool.errors import ConfigError
from sendpool.services.servers.fields import (
    STATUS_ALIAS,
    Name,
    model_from,
    pool_fields,
    status_of,
)
from sendpool.transports.registry import ServerSettingsError, server_type, validate_settings


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


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    servers: list[str] = Field(default_factory=list)
    burst_threshold: int | None = Field(None, ge=1)


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    plan: str | None = None
    region: str | None = Field(None, max_length=64)


class RegionRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(min_length=1, max_length=64)
    plan: str


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    servers: list[ServerIn] = Field(default_factory=list)
    plans: list[PlanIn] = Field(default_factory=list)
    customers: list[CustomerIn] = Field(default_factory=list)
    region_rules: list[RegionRuleIn] = Field(default_factory=list)


def _said(errors: list[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {message}" for field, message in errors)


class ServerDecl:
    """A server from the file with its type's settings checked and its secrets read.

    ``values`` holds the common keys as they are stored, the status resolved
    from either of its spellings.
    """

    def __init__(
        self,
        name: str,
        values: dict[str, Any],
        settings: dict[str, Any],
        secrets: dict[str, str],
    ) -> None:
        self.name = name
        self.values = values
        self.settings = settings
        self.secrets = secrets


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
        checked = validate_settings(s.type, settings)
    except ServerSettingsError as exc:
        raise ConfigError(f"{where}: {_said(exc.errors)}") from None
    return ServerDecl(s.name, values, checked, secrets)


def parse_pool(
    data: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[PoolFile, list[ServerDecl]]:
    try:
        pool = PoolFile.model_validate(dict(data))
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("the pool file is not valid:\n  " + "\n  ".join(lines)) from None
    decls = [_split(i, s, env) for i, s in enumerate(pool.servers)]
    names = [d.name for d in decls]
    if len(set(names)) != len(names):
        raise ConfigError("two servers in the pool file have the same name")
    return pool, decls


def load_pool_file(path: Path, env: Mapping[str, str]) -> tuple[PoolFile, list[ServerDecl]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_pool(data, env)
