"""Settings from the environment (SENDPOOL_*) or a TOML file; the defaults need nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
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
