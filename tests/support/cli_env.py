"""The command line as a user runs it: settings in the environment, a SQLite file, a CliRunner.

Every command reads its settings from ``SENDPOOL_*`` variables, so a test
points those at its own database and secret key, then invokes commands
in-process; ``open()`` gives the runtime the commands themselves would open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from sendpool.cli import common
from sendpool.cli.app import app
from sendpool.config import Settings
from sendpool.runtime import Runtime
from tests.support.settings import make_settings


@dataclass
class CliEnv:
    """One test's command-line environment; ``settings`` is what the commands will read."""

    monkeypatch: pytest.MonkeyPatch
    settings: Settings
    runner: CliRunner = field(default_factory=CliRunner)
    # The test's own database is made at the first command, as `sendpool migrate` would
    # have made it: only migrate, demo and serve create one (cli/common.py).
    migrated: Settings | None = None

    @property
    def db(self) -> Path:
        """The SQLite file the commands use."""
        database = make_url(self.settings.database_url).database
        assert database, f"{self.settings.database_url} is not a file database"
        return Path(database)

    def use(self, settings: Settings) -> CliEnv:
        """Point the commands at ``settings``' database and secret key."""
        self.settings = settings
        self.setenv("SENDPOOL_DATABASE_URL", settings.database_url)
        if settings.secret_key:
            self.setenv("SENDPOOL_SECRET_KEY", settings.secret_key)
        else:
            self.monkeypatch.delenv("SENDPOOL_SECRET_KEY", raising=False)
        return self

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def wide(self) -> CliEnv:
        """Widen the console: it measured the terminal when it was made, and tables wrap."""
        self.monkeypatch.setattr(common.console, "width", 200)
        self.monkeypatch.setattr(common.err_console, "width", 200)
        return self

    def invoke(self, args: Sequence[str], input: str | None = None) -> Result:
        if self.migrated is not None and self.settings is self.migrated:
            self.migrated = None
            if not self.db.exists():
                Runtime.open(self.settings).close()
        return self.runner.invoke(app, list(args), input=input)

    def open(self) -> Runtime:
        """The runtime the commands open, from the same environment; use it in ``with``."""
        return Runtime.open(Settings())


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliEnv:
    """A fresh database and key in ``tmp_path``, which is also the working directory."""
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path)
    return CliEnv(monkeypatch, settings, migrated=settings).use(settings)
