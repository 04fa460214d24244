"""Settings from the environment (SENDPOOL_*) or a TOML file; the defaults need nothing."""

from __future__ import annotations

import ipaddress
import os
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Every knob an operator may turn. Environment beats the TOML file beats defaults."""

    model_config = SettingsConfigDict(env_prefix="SENDPOOL_", extra="ignore")

    database_url: str = "sqlite:///./sendpool.db"
    redis_url: str | None = None
    secret_key: str | None = None
    config_file: str | None = None

    burst_threshold: int = Field(5000, ge=1)
    health_check_interval: float = Field(300.0, gt=0)
    batch_size: int = Field(500, ge=1, le=10000)
    max_in_flight: int = Field(2000, ge=1)
    lease_seconds: float = Field(120.0, gt=0)
    poll_interval: float = Field(0.2, gt=0)
    idle_recheck_seconds: float = Field(60.0, gt=0)
    retry_base_seconds: float = Field(60.0, gt=0)
    retry_max_delay_seconds: float = Field(3600.0, gt=0)
    max_age_seconds: float = Field(3 * 24 * 3600.0, gt=0)
    send_timeout: float = Field(30.0, gt=0)
    public_url: str = "http://127.0.0.1:8025"

    # Daily rebalancing (docs/design.md §1): bounce-rate thresholds as fractions.
    rebalance_enabled: bool = True
    rebalance_at: time = time(3, 0)  # UTC; `serve` runs the job once per day at or after it
    rebalance_raise_below: float = Field(0.01, ge=0, le=1)
    rebalance_cut_above: float = Field(0.03, ge=0, le=1)
    rebalance_raise_by: float = Field(0.10, ge=0, le=10)
    rebalance_cut_by: float = Field(0.25, ge=0, lt=1)
    rebalance_min_sent: int = Field(1, ge=0)

    # JSON API: request bodies above these sizes are refused with 413.
    api_max_body_bytes: int = Field(1 << 20, ge=1024)
    api_max_upload_bytes: int = Field(64 << 20, ge=1024)

    # /metrics (docs/deploy.md §6): with a token, scrapes must send `Authorization: Bearer
    # <token>`; with a bind address (HOST:PORT, [IPv6]:PORT), `serve` answers /metrics
    # there only, and 404 on the API port.
    metrics_token: str | None = Field(None, max_length=512)
    metrics_bind: str | None = None

    @field_validator("metrics_token", "metrics_bind")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # `SENDPOOL_METRICS_TOKEN=` in an env file means "not set", never "the empty token".
        return value.strip() or None if value is not None else None

    @field_validator("metrics_bind")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        host, _, port = (value or "").rpartition(":")
        if value is not None and not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(
                f"metrics_bind: {value!r} is not HOST:PORT (give e.g. 127.0.0.1:9108 or [::1]:9108)"
            )
        return value

    # Admin sign-in (docs/deploy.md, "Admin sign-in and sessions"): a session ends this many
    # seconds after sign-in, or after this many seconds without a request, whichever is first.
    admin_session_max_age: float = Field(12 * 3600.0, gt=0)
    admin_session_idle: float = Field(3600.0, gt=0)
    # Addresses or networks (comma-separated) of reverse proxies whose X-Forwarded-For is
    # believed; empty: the client address is the socket's peer, whatever the headers say.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network "
                    "(give e.g. 127.0.0.1, 10.0.0.0/8, ::1, comma-separated)"
                ) from None
        return value

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        entries = (e.strip() for e in self.trusted_proxies.split(","))
        return [ipaddress.ip_network(e, strict=False) for e in entries if e]

    @model_validator(mode="after")
    def _rebalance_band(self) -> Settings:
        if self.rebalance_raise_below > self.rebalance_cut_above:
            raise ValueError("rebalance_raise_below must not be above rebalance_cut_above")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("SENDPOOL_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
