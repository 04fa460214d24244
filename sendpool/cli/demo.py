"""``sendpool demo``: a pool at work on this machine, with nothing to set up.

The acts themselves (sinks, pool, campaigns) live in ``demo_acts`` and load
only when the demo runs, so ``sendpool --help`` does not pay for them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from sendpool.cli.common import err_console, friendly_errors


@friendly_errors
def demo(
    subscribers: Annotated[
        int, typer.Option(min=10, max=100_000, help="Subscribers per act.")
    ] = 3000,
    db: Annotated[
        Path | None, typer.Option(help="Keep the demo's database here (default: a temporary one).")
    ] = None,
) -> None:
    """Send campaigns through local SMTP sinks and show how the pool shares them out."""
    from sendpool.cli.demo_acts import run_demo
    from sendpool.pipeline.embedded import run_async

    if db is not None:
        if db.exists():
            raise typer.BadParameter(f"{db} exists; give a new file name", param_hint="--db")
        run_async(run_demo(db, subscribers))
        err_console.print(f"demo database kept at {db}")
        return
    with tempfile.TemporaryDirectory(prefix="sendpool-demo-") as tmp:
        run_async(run_demo(Path(tmp) / "demo.db", subscribers))
