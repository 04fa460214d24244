"""verified sending domains per customer

Revision ID: 0004_sending_domains
Revises: 0003_admin_sessions
Create Date: 2026-12-01 16:00:00.000000

From this revision on a customer sends only from its verified sending
domains. So that nothing that worked before breaks, each customer is given
the distinct domains of the From addresses of its existing campaigns and
transactional messages, verified by "migration". A domain more than one
customer has sent from is given to none of them (a domain belongs to one
customer, and which one is the admin's call): it is logged as a warning, and
an admin assigns it with `sendpool customers domains add CUSTOMER DOMAIN`.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

import sendpool.store.types

revision: str = "0004_sending_domains"
down_revision: str | None = "0003_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def _ascii_domain(address: str | None) -> str | None:
    """The address's domain, lower-case A-label, as the sending-domain service stores it."""
    if not address or "@" not in address:
        return None
    try:
        return validate_email(
            "x@" + address.rpartition("@")[2], check_deliverability=False
        ).ascii_domain
    except EmailNotValidError:
        return None  # never sendable, so nothing to keep working


def _senders(conn: sa.Connection) -> list[tuple[int, str]]:
    campaigns = conn.execute(sa.text("SELECT DISTINCT customer_id, from_email FROM campaigns"))
    sender = (
        "json_extract(payload, '$.from_email')"
        if conn.dialect.name == "sqlite"
        else "payload->>'from_email'"
    )
    messages = conn.execute(
        sa.text(
            f"SELECT DISTINCT customer_id, {sender} FROM messages "
            "WHERE kind = 'transactional' AND payload IS NOT NULL"
        )
    )
    return [(int(c), str(e)) for c, e in [*campaigns, *messages] if e is not None]


def upgrade() -> None:
    table = op.create_table(
        "sending_domains",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("verified_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_sending_domains_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_sending_domains_domain")),
    )
    with op.batch_alter_table("sending_domains", schema=None) as batch_op:
        batch_op.create_index("ix_sending_domains_customer_id", ["customer_id"], unique=False)

    users: dict[str, set[int]] = defaultdict(set)
    for customer_id, address in _senders(op.get_bind()):
        domain = _ascii_domain(address)
        if domain is not None:
            users[domain].add(customer_id)
    now = datetime.now(UTC)
    rows = []
    for domain, customers in sorted(users.items()):
        if len(customers) > 1:
            log.warning(
                "sending domain %s was used by customers %s; given to none of them: "
                "add it to its owner with `sendpool customers domains add CUSTOMER %s`",
                domain,
                ", ".join(str(c) for c in sorted(customers)),
                domain,
            )
            continue
        rows.append(
            {
                "customer_id": customers.pop(),
                "domain": domain,
                "verified_at": now,
                "created_at": now,
                "created_by": "migration",
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("sending_domains", schema=None) as batch_op:
        batch_op.drop_index("ix_sending_domains_customer_id")
    op.drop_table("sending_domains")
