"""Settings for one test: a SQLite file in the test's folder and quick timers."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from sendpool.config import Settings


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path}/sendpool.db",
        "secret_key": Fernet.generate_key().decode(),
        "poll_interval": 0.02,
        "health_check_interval": 300.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
