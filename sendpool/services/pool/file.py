"""The pool as configuration: the schema of pool.toml, checked before anything is written."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sendpool.content.addresses import normalise_address
from sendpool.errors import ConfigError
from sendpool.transports.registry import ServerSettingsError, server_type, validate_settings

Name = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


def check_timezone(name: str) -> str:
    """Quota windows are calendar hours and days in this zone, so it must be one tzdata knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'"
        ) from None
    return name


class WarmupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_daily: int = Field(ge=0)
    growth_percent: float = Field(ge=0, le=1000)
    target_daily: int = Field(ge=0)
    started_on: date
    gate_bounce_rate: float | None = Field(None, ge=0, le=1)


# Keys every server has; anything else belongs to the server's type.
COMMON_KEYS = frozenset(
    {
        "name",
        "type",
        "enabled",
        "sending_limit",
        "hourly_limit",
        "rate_per_second",
        "max_connections",
        "max_messages_per_connection",
        "timezone",
        "default_from_email",
        "warmup",
    }
)


class ServerIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Name
    type: str
    enabled: bool = True
    sending_limit: int = Field(ge=0)
    hourly_limit: int | None = Field(None, ge=0)
    rate_per_second: float | None = Field(None, gt=0)
    max_connections: int = Field(4, ge=1, le=200)
    max_messages_per_connection: int | None = Field(None, ge=1)
    timezone: str = "UTC"
    default_from_email: str | None = None
    warmup: WarmupIn | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("default_from_email")
    @classmethod
    def _from(cls, v: str | None) -> str | None:
        return normalise_address(v) if v else None

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
    servers: list[str] = Field(default_factory=list)
    burst_threshold: int | None = Field(None, ge=1)


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
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


class ServerDecl:
    """A server from the file with its type's settings checked and its secrets read."""

    def __init__(self, server: ServerIn, settings: dict[str, Any], secrets: dict[str, str]) -> None:
        self.server = server
        self.settings = settings
        self.secrets = secrets


def _split(index: int, s: ServerIn, env: Mapping[str, str]) -> ServerDecl:
    where = f"servers[{index}] ({s.name})"
    try:
        st = server_type(s.type)
    except ServerSettingsError as exc:
        raise ConfigError(f"{where}: {'; '.join(exc.errors)}") from None
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
        raise ConfigError(f"{where}: {'; '.join(exc.errors)}") from None
    return ServerDecl(s, checked, secrets)


def parse_pool(
    data: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[PoolFile, list[ServerDecl]]:
    try:
        pool = PoolFile.model_validate(dict(data))
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("the pool file is not valid:\n  " + "\n  ".join(lines)) from None
    decls = [_split(i, s, env) for i, s in enumerate(pool.servers)]
    names = [s.name for s in pool.servers]
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
