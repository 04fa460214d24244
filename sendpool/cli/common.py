"""What every command shares: the console, settings, the runtime and error exits."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from sendpool.config import Settings
from sendpool.errors import ConfigError, InputError, NotFoundError, SendpoolError
from sendpool.runtime import Runtime
from sendpool.store.db import normalise_url, sqlite_path

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def setup_logging(verbose: bool = False) -> None:
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
    path = sqlite_path(normalise_url(database_url))
    if path is None or path.exists():
        return None
    shown = str(path) if path.is_absolute() else f"./{path.as_posix().removeprefix('./')}"
    return f"no database at {shown}; run `sendpool migrate` here or set SENDPOOL_DATABASE_URL"


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValueError as exc:
        raise ConfigError(f"settings are not valid: {exc}") from None


def open_runtime(**overrides: Any) -> Runtime:
    """The runtime the settings name, for a command that reads state: never a new database.

    A SQLite file that does not exist is refused (``missing_database``); only
    ``migrate``, ``demo`` and ``serve`` create one (``create_runtime``).
    """
    settings = _settings(**overrides)
    missing = missing_database(settings.database_url)
    if missing is not None:
        raise ConfigError(missing)
    return Runtime.open(settings)


def create_runtime(**overrides: Any) -> Runtime:
    """The runtime, its database created (and migrated) when it does not exist yet."""
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
