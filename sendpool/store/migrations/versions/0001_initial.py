"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 18:47:33.455423
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendpool.store.types

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
        sa.UniqueConstraint("email", name=op.f("uq_admin_users_email")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_events")),
    )
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_events_server_at", ["server_id", "created_at"], unique=False
        )

    op.create_table(
        "dispatch_skips",
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "plan_id", "server_id", "day", "code", name=op.f("pk_dispatch_skips")
        ),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("selector", sa.String(length=32), nullable=False),
        sa.Column("burst_threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_plans_uid")),
    )
    op.create_table(
        "quota_usage",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("window_key", sa.String(length=32), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("expires_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "window", "window_key", name=op.f("pk_quota_usage")),
    )
    op.create_table(
        "rate_state",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_rate_state")),
    )
    op.create_table(
        "rotation_cursors",
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_rotation_cursors")),
    )
    op.create_table(
        "sending_servers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("health", sa.String(length=16), nullable=False),
        sa.Column("sending_limit", sa.Integer(), nullable=False),
        sa.Column("hourly_limit", sa.Integer(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("max_connections", sa.Integer(), nullable=False),
        sa.Column("max_messages_per_connection", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("default_from_email", sa.String(length=320), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets_sealed", sa.Text(), nullable=True),
        sa.Column("warmup", sa.JSON(), nullable=True),
        sa.Column("bounce_handler", sa.JSON(), nullable=True),
        sa.Column("fbl_handler", sa.JSON(), nullable=True),
        sa.Column("health_checked_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("health_error", sa.Text(), nullable=True),
        sa.Column("degraded_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("next_check_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("paused_until", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_activity_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_servers")),
        sa.UniqueConstraint("name", name=op.f("uq_sending_servers_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_sending_servers_uid")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_customers_plan_id_plans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("name", name=op.f("uq_customers_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_customers_uid")),
    )
    op.create_table(
        "plan_servers",
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "server_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_servers_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["sending_servers.id"],
            name=op.f("fk_plan_servers_server_id_sending_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plan_id", "server_id", name=op.f("pk_plan_servers")),
    )
    op.create_table(
        "region_rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_region_rules_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_rules")),
        sa.UniqueConstraint("region", name=op.f("uq_region_rules_region")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_api_tokens_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        sa.UniqueConstraint("uid", name=op.f("uq_api_tokens_uid")),
    )
    op.create_table(
        "lists",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_lists_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_lists_customer_id")),
        sa.UniqueConstraint("uid", name=op.f("uq_lists_uid")),
    )
    op.create_table(
        "suppressions",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_suppressions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "email", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("launch_cursor", sa.BigInteger(), nullable=False),
        sa.Column("launched_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaigns_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_campaigns_list_id_lists"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_campaigns_plan_id_plans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("uid", name=op.f("uq_campaigns_uid")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_subscribers_list_id_lists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("list_id", "email", name=op.f("uq_subscribers_list_id")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("server_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("queued_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("smtp_reply", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("remote_id", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("updated_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_messages_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["sending_servers.id"],
            name=op.f("fk_messages_server_id_sending_servers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("campaign_id", "subscriber_id", name=op.f("uq_messages_campaign_id")),
        sa.UniqueConstraint("uid", name=op.f("uq_messages_uid")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_messages_pending_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('queued','deferred','sending')"),
            postgresql_where=sa.text("status IN ('queued','deferred','sending')"),
        )
        batch_op.create_index("ix_messages_recipient", ["recipient"], unique=False)
        batch_op.create_index("ix_messages_server_sent", ["server_id", "sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_server_sent")
        batch_op.drop_index("ix_messages_recipient")
        batch_op.drop_index(
            "ix_messages_pending_due",
            sqlite_where=sa.text("status IN ('queued','deferred','sending')"),
            postgresql_where=sa.text("status IN ('queued','deferred','sending')"),
        )
        batch_op.drop_index("ix_messages_campaign_status")

    op.drop_table("messages")
    op.drop_table("subscribers")
    op.drop_table("campaigns")
    op.drop_table("suppressions")
    op.drop_table("lists")
    op.drop_table("api_tokens")
    op.drop_table("region_rules")
    op.drop_table("plan_servers")
    op.drop_table("customers")
    op.drop_table("workers")
    op.drop_table("sending_servers")
    op.drop_table("rotation_cursors")
    op.drop_table("rate_state")
    op.drop_table("quota_usage")
    op.drop_table("plans")
    op.drop_table("dispatch_skips")
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_events_server_at")

    op.drop_table("delivery_events")
    op.drop_table("audit_log")
    op.drop_table("admin_users")
