"""``sendpool pool``: the pool as configuration as code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, err_console, friendly_errors, open_store

app = typer.Typer(help="Declare servers, plans, customers and region rules from a TOML file.")


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "attached" if value else "not attached"
    return f"{value:,}" if isinstance(value, int) else str(value)


@app.command("apply")
@friendly_errors
def apply(
    file: Annotated[Path, typer.Argument(help="The pool file, e.g. pool.toml.")],
    dry_run: Annotated[
        bool,
        typer.Option(help="Check the file and show the changes, field by field; write nothing."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Also overwrite fields changed elsewhere (API, pages) since the last apply."
        ),
    ] = False,
) -> None:
    """Create or update what FILE declares; servers are matched by name.

    Applying the same file twice changes nothing the second time. Secrets are
    read from the environment variables that *_env keys name, and stored
    encrypted. The file owns the keys each server entry writes and each plan's
    list of servers; a field changed through the API or the pages since the
    last apply is drift: shown, and kept unless --force (the command then
    exits 1). Every change goes to the audit log as made by "pool file".
    """
    from sendpool.services.pool.apply import apply_pool
    from sendpool.services.pool.file import load_pool_file

    pool, decls = load_pool_file(file, os.environ)
    rt = open_store()
    try:
        with rt.db.engine.connect() as conn:
            trans = conn.begin()
            report = apply_pool(conn, pool, decls, rt.box, force=force)
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
    finally:
        rt.close()
    table = Table(title="dry run: nothing written" if dry_run else f"applied {file}")
    for col in ("what", "field", "now", "file"):
        table.add_column(col, overflow="fold")
    for label in report.created:
        table.add_row(escape(label), "[green]created[/]", "", "")
    for c in report.changes:
        if c.what not in report.created:
            table.add_row(
                escape(c.what), escape(c.field), escape(_shown(c.current)), escape(_shown(c.wanted))
            )
    for c in report.drift:
        table.add_row(
            escape(c.what),
            escape(c.field),
            escape(_shown(c.current)),
            f"{escape(_shown(c.wanted))} [red](changed elsewhere: kept)[/]",
        )
    for label in report.unchanged:
        table.add_row(escape(label), "[dim]unchanged[/]", "", "")
    console.print(table)
    if report.drift:
        err_console.print(
            f"{len(report.drift)} field(s) were changed elsewhere since the last apply and "
            "were kept; write their new values into the file, or apply with --force"
        )
        raise typer.Exit(1)
