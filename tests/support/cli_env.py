"""The command line as a user runs it: settings in the environment, a SQLite file, a CliRunner.

Every command reads its settings from ``SENDPOOL_*`` variables, so a test
points those at its own database and secret key, then invokes commands
in-process; ``open()`` gives the runtime the commands themselves would open.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
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
                copy_migrated(self.db)
        return self.runner.invoke(app, list(args), input=input)

    def open(self) -> Runtime:
        """The runtime the commands open, from the same environment; use it in ``with``."""
        return Runtime.open(Settings())


_TEMPLATE: list[Path] = []


def copy_migrated(db: Path) -> None:
    """Put an empty, migrated database at ``db``: a copy of one migrated once per process.

    Migrating from nothing takes a third of a second; copying the file takes a
    millisecond. Its mode (owner only) comes with it, as migrate would leave it.
    """
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="sendpool-cli-template-"))
        atexit.register(shutil.rmtree, folder, True)
        # Made from the defaults alone: the test's own SENDPOOL_* (a wrong one, say) are
        # for the command under test, not for this copy.
        ours = {k: v for k, v in os.environ.items() if k.startswith("SENDPOOL_")}
        for name in ours:
            del os.environ[name]
        try:
            Runtime.open(make_settings(folder)).close()
        finally:
            os.environ.update(ours)
        _TEMPLATE.append(folder / "sendpool.db")
    template = _TEMPLATE[0]
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy(source, db.with_name(db.name + suffix))


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliEnv:
    """A fresh database and key in ``tmp_path``, which is also the working directory."""
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path)
    return CliEnv(monkeypatch, settings, migrated=settings).use(settings)
