"""The ``sendpool`` command: every face of the service from a terminal."""

from __future__ import annotations

import typer

from sendpool.cli import (
    admin,
    bounces,
    campaign,
    customers,
    demo,
    inbound,
    pool,
    rebalance,
    repair,
    retention,
    serve,
    servers,
    suppressions,
    token,
    waiting,
    webhooks,
    worker,
)
from sendpool.cli.doctor import doctor
from sendpool.cli.help_flags import hide_flag_types
from sendpool.cli.simulate import simulate

hide_flag_types()
app = typer.Typer(
    name="sendpool",
    help=(
        "Send campaigns and transactional mail through a rotating pool of sending servers.\n\n"
        "Start with `sendpool demo`. Configure with SENDPOOL_* environment variables "
        "(SENDPOOL_DATABASE_URL, SENDPOOL_SECRET_KEY, ...) and a pool file "
        "(`sendpool pool apply pool.toml`)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
app.command("migrate")(worker.migrate)
app.command("serve")(serve.serve)
app.command("inbound")(inbound.inbound)
app.command("rebalance")(rebalance.rebalance)
app.command("doctor")(doctor)
app.command("simulate")(simulate)
app.command("send-waiting-now")(waiting.send_waiting_now)
app.add_typer(pool.app, name="pool")
app.add_typer(campaign.app, name="campaign")
app.add_typer(servers.app, name="servers")
app.add_typer(customers.app, name="customers")
app.add_typer(token.app, name="token")
app.add_typer(admin.app, name="admin")
app.add_typer(repair.app, name="repair")
app.add_typer(bounces.app, name="bounces")
app.add_typer(suppressions.app, name="suppressions")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(retention.app, name="retention")


def main() -> None:
    app()
