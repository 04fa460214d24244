"""``sendpool pool``: the pool as configuration as code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, friendly_errors, open_runtime
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import load_pool_file

app = typer.Typer(help="Declare servers, plans, customers and region rules from a TOML file.")


@app.command("apply")
@friendly_errors
def apply(
    file: Annotated[Path, typer.Argument(help="The pool file, e.g. pool.toml.")],
    dry_run: Annotated[
        bool, typer.Option(help="Check the file and show changes; write nothing.")
    ] = False,
) -> None:
    """Create or update what FILE declares; servers are matched by name.

    Applying the same file twice changes nothing the second time. Secrets are
    read from the environment variables that *_env keys name, and stored
    encrypted.
    """
    pool, decls = load_pool_file(file, os.environ)
    rt = open_runtime()
    try:
        with rt.db.engine.connect() as conn:
            trans = conn.begin()
            report = apply_pool(conn, pool, decls, rt.box)
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
    finally:
        rt.close()
    table = Table(title="dry run: nothing written" if dry_run else f"applied {file}")
    table.add_column("what")
    table.add_column("change")
    for label in report.created:
        table.add_row(escape(label), "[green]created[/]")
    for label in report.updated:
        table.add_row(escape(label), "[yellow]updated[/]")
    for label in report.unchanged:
        table.add_row(escape(label), "[dim]unchanged[/]")
    console.print(table)
