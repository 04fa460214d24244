"""``sendpool customers``: what customers may do; for now, the domains they may send from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console, friendly_errors, open_store

if TYPE_CHECKING:
    from sendpool.services.tenancy.sending_domains import CustomerDomains

app = typer.Typer(help="Customers: the domains each may send from.")
domains = typer.Typer(help="A customer's verified sending domains: add, list, remove.")
app.add_typer(domains, name="domains")

Customer = Annotated[str, typer.Argument(help="The customer's name or uid.")]
Domain = Annotated[
    str, typer.Argument(help="e.g. example.com; *.example.com covers its subdomains.")
]


def _table(found: CustomerDomains) -> Table:
    table = Table(title=f"sending domains of {escape(found.customer.name)}")
    for col in ("domain", "verified", "added by"):
        table.add_column(col)
    for d in found.domains:
        verified = f"{d.verified_at:%Y-%m-%d %H:%M}" if d.verified_at else "not verified"
        table.add_row(escape(d.domain), verified, escape(d.created_by))
    if not found.domains:
        table.caption = "none: every From address of this customer is refused"
    return table


@domains.command("add")
@friendly_errors
def add(customer: Customer, domain: Domain) -> None:
    """Let CUSTOMER send from DOMAIN, verified by you; adding it again changes nothing.

    A domain belongs to one customer: one that another customer holds is refused.
    """
    from sendpool.services.tenancy.sending_domains import add_domain

    rt = open_store()
    try:
        found = rt.db.transaction(add_domain, customer, domain, actor="cli", now=datetime.now(UTC))
    finally:
        rt.close()
    console.print(_table(found))


@domains.command("list")
@friendly_errors
def list_(
    customer: Customer,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The domains CUSTOMER may send from."""
    from sendpool.services.tenancy.sending_domains import customer_domains

    rt = open_store()
    try:
        found = rt.db.transaction(customer_domains, customer)
    finally:
        rt.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "customer": found.customer.name,
                    "domains": [
                        {
                            "domain": d.domain,
                            "verified_at": d.verified_at.isoformat() if d.verified_at else None,
                            "created_by": d.created_by,
                        }
                        for d in found.domains
                    ],
                }
            )
        )
    else:
        console.print(_table(found))


@domains.command("remove")
@friendly_errors
def remove(customer: Customer, domain: Domain) -> None:
    """Stop CUSTOMER sending from DOMAIN; messages already queued still go out."""
    from sendpool.services.tenancy.sending_domains import remove_domain

    rt = open_store()
    try:
        found = rt.db.transaction(
            remove_domain, customer, domain, actor="cli", now=datetime.now(UTC)
        )
    finally:
        rt.close()
    console.print(_table(found))
