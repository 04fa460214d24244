"""What every command shares: the console, settings, the runtime and error exits.

Settings, the store and the runtime are imported when a command asks for
them, not when the CLI loads: ``sendpool --help`` and every command's own
help then start without loading the database layer (docs/design.md, §2).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sendpool.errors import ConfigError, InputError, NotFoundError, SendpoolError

if TYPE_CHECKING:
    from sendpool.config import Settings
    from sendpool.runtime import Runtime
    from sendpool.secretbox import SecretBox
    from sendpool.store.database import Database

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
        force=True,
    )


def missing_database(database_url: str) -> str | None:
    """Why a command that reads state must not run here: its SQLite file does not exist.

    Opening it would create an empty database (and a new key beside it), and
    the command would answer "unknown campaign" about a database that was never
    the operator's. PostgreSQL has no such accident: a missing database refuses
    the connection.
    """
    from sendpool.store.db import normalise_url, sqlite_path

    path = sqlite_path(normalise_url(database_url))
    if path is None or path.exists():
        return None
    shown = str(path) if path.is_absolute() else f"./{path.as_posix().removeprefix('./')}"
    return f"no database at {shown}; run `sendpool migrate` here or set SENDPOOL_DATABASE_URL"


def _settings(**overrides: Any) -> Settings:
    from sendpool.config import Settings

    try:
        return Settings(**overrides)
    except ValueError as exc:
        raise ConfigError(f"settings are not valid: {exc}") from None


def _existing_settings(**overrides: Any) -> Settings:
    """The settings of a command that reads state; a SQLite file that does not exist is refused."""
    settings = _settings(**overrides)
    missing = missing_database(settings.database_url)
    if missing is not None:
        raise ConfigError(missing)
    return settings


@dataclass
class Store:
    """What a command that reads and writes rows needs: settings, database, secret box.

    ``Runtime`` adds the queue, the quota ledger (a Redis connection when one is
    set) and the catalog, for commands that send; importing it loads the whole
    sending pipeline, a second of start-up that ``token list`` has no use for.
    """

    settings: Settings
    db: Database
    box: SecretBox

    def close(self) -> None:
        self.db.close()


def _open_store(settings: Settings) -> Store:
    from sendpool.secretbox import load_box
    from sendpool.store.database import Database

    db = Database.open(settings.database_url)  # migrated, as Runtime.open does
    try:
        box = load_box(settings.secret_key, settings.database_url)
    except BaseException:
        db.close()
        raise
    return Store(settings, db, box)


def open_store(**overrides: Any) -> Store:
    """The database the settings name, for a command that reads state: never a new one.

    A SQLite file that does not exist is refused (``missing_database``); only
    ``migrate``, ``demo`` and ``serve`` create one (``create_store``, ``create_runtime``).
    """
    return _open_store(_existing_settings(**overrides))


def create_store(**overrides: Any) -> Store:
    """The database, created and migrated when it does not exist yet; its key file too."""
    return _open_store(_settings(**overrides))


def open_runtime(**overrides: Any) -> Runtime:
    """The runtime, for a command that sends or listens: never a new database (``open_store``)."""
    from sendpool.runtime import Runtime

    return Runtime.open(_existing_settings(**overrides))


def create_runtime(**overrides: Any) -> Runtime:
    """The runtime, its database created (and migrated) when it does not exist yet."""
    from sendpool.runtime import Runtime

    return Runtime.open(_settings(**overrides))


def fail(message: str, code: int = 1) -> typer.Exit:
    # Messages quote what users and servers wrote ("[smtp.example.com] busy"): not markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Our errors become one red line and an exit code; no traceback for a user's mistake."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (InputError, NotFoundError) as exc:
            raise fail(str(exc), 2) from None
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
        except SendpoolError as exc:
            raise fail(str(exc), 1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: queued messages stay queued for the next worker")
            sys.exit(130)

    return wrapper
