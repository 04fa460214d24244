"""Every table sendpool keeps. The messages table is both the queue and the per-message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sendpool.core.states import (
    PENDING_MESSAGE_STATES,
    CampaignStatus,
    MessageStatus,
    ServerHealth,
    ServerStatus,
)
from sendpool.store.base import Base as Base
from sendpool.store.base import name_key
from sendpool.store.base import table as table
from sendpool.store.tables_access import AdminSession as AdminSession
from sendpool.store.tables_access import AdminUser as AdminUser
from sendpool.store.tables_access import ApiToken as ApiToken
from sendpool.store.tables_access import AuditEntry as AuditEntry
from sendpool.store.tables_access import SigninCounter as SigninCounter
from sendpool.store.tables_backoffs import Backoff as Backoff
from sendpool.store.tables_backoffs import BackoffHit as BackoffHit
from sendpool.store.tables_backoffs import BackoffRuleRow as BackoffRuleRow
from sendpool.store.tables_backoffs import GroupSends as GroupSends
from sendpool.store.tables_providers import ProviderGroupRow as ProviderGroupRow
from sendpool.store.tables_providers import ProviderLimit as ProviderLimit
from sendpool.store.tables_providers import ProviderRateState as ProviderRateState
from sendpool.store.tables_rollups import CampaignCount as CampaignCount
from sendpool.store.tables_rollups import CampaignCountDelta as CampaignCountDelta
from sendpool.store.tables_rollups import EventDelta as EventDelta
from sendpool.store.tables_rollups import EventsByDay as EventsByDay
from sendpool.store.tables_rollups import EventsByMinute as EventsByMinute
from sendpool.store.tables_rollups import QueuedByMinute as QueuedByMinute
from sendpool.store.tables_rollups import QueuedDelta as QueuedDelta
from sendpool.store.tables_rollups import SendDelta as SendDelta
from sendpool.store.tables_rollups import SendsByDay as SendsByDay
from sendpool.store.tables_rollups import SendsByMinute as SendsByMinute
from sendpool.store.tables_rollups import ServerCount as ServerCount
from sendpool.store.tables_rollups import ServerCountDelta as ServerCountDelta
from sendpool.store.tables_rollups import TransactionalCount as TransactionalCount
from sendpool.store.tables_rollups import TransactionalCountDelta as TransactionalCountDelta
from sendpool.store.tables_webhooks import WebhookReceipt as WebhookReceipt
from sendpool.store.tables_webhooks import WebhookReplay as WebhookReplay
from sendpool.store.tables_webhooks import WebhookUnmatched as WebhookUnmatched
from sendpool.store.types import BigId, UTCDateTime, new_uid, utcnow

# "sending" rows are claimed by a worker until lease expiry (kept in due_at),
# so one partial index over the pending states finds everything a worker may take.
PENDING_STATES = tuple(sorted(PENDING_MESSAGE_STATES))


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_name_key", "name_key", unique=True),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_key: Mapped[str | None] = name_key()
    selector: Mapped[str] = mapped_column(String(32), default="round_robin")
    burst_threshold: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pool_applied: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # servers, by the file


class SendingServer(Base):
    __tablename__ = "sending_servers"
    __table_args__ = (Index("ix_sending_servers_name_key", "name_key", unique=True),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_key: Mapped[str | None] = name_key()
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ServerStatus.ACTIVE)
    health: Mapped[str] = mapped_column(String(16), default=ServerHealth.UNKNOWN)
    sending_limit: Mapped[int] = mapped_column(Integer, default=0)
    hourly_limit: Mapped[int | None] = mapped_column(Integer)
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    max_connections: Mapped[int] = mapped_column(Integer, default=4)
    max_messages_per_connection: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_from_email: Mapped[str | None] = mapped_column(String(320))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets_sealed: Mapped[str | None] = mapped_column(Text)
    warmup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    bounce_handler: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fbl_handler: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    health_error: Mapped[str | None] = mapped_column(Text)
    degraded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether its EHLO offered SMTPUTF8 at the last check; None until one said.
    smtputf8: Mapped[bool | None] = mapped_column(Boolean)
    bounce_domain: Mapped[str | None] = mapped_column(String(253))  # None: the default
    status_reason: Mapped[str | None] = mapped_column(Text)  # why it is paused, with figures
    # Limits with one truth (0011): the rebalancer stays under both; the file's last values.
    rebalance_ceiling: Mapped[int | None] = mapped_column(Integer)
    vendor_daily_limit: Mapped[int | None] = mapped_column(Integer)  # SES Max24HourSend
    pool_applied: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PlanServer(Base):
    __tablename__ = "plan_servers"
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[int] = mapped_column(
        ForeignKey("sending_servers.id", ondelete="CASCADE"), primary_key=True
    )
    # Its share in this plan's smooth weighted rotation (0012): 1..1000, 1 by default.
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))


class RegionRule(Base):
    __tablename__ = "region_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region: Mapped[str] = mapped_column(String(64), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_name_key", "name_key", unique=True),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_key: Mapped[str | None] = name_key()
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))
    region: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendingDomain(Base):
    """A domain a customer may send from: lower-case A-label, or a ``*.`` wildcard.

    Unique on the domain alone: a domain belongs to at most one customer.
    """

    __tablename__ = "sending_domains"
    __table_args__ = (Index("ix_sending_domains_customer_id", "customer_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # 253 for the longest domain name (RFC 1035 §2.3.4), 2 more for "*.".
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class MailingList(Base):
    __tablename__ = "lists"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("list_id", "email_key"),
        # A launch walks a list in id order from its cursor (store/launches.py, 0015).
        Index("ix_subscribers_list_id_id", "list_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # as first written (store/subscribers.py)
    email_key: Mapped[str] = mapped_column(String(320))  # lower-cased: one subscriber per mailbox
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="subscribed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="RESTRICT"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    from_email: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # See CAMPAIGN_TRANSITIONS: draft -> launching -> sending <-> paused.
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    launch_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day partition of all its messages, set at its first launch batch and never
    # changed after (0021, store/partitions.py); None until then.
    part_day: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # One message per subscriber per campaign, however often a launch is resumed: a
        # campaign's messages share its part_day, so the partition key takes nothing away.
        UniqueConstraint("campaign_id", "subscriber_id", "part_day"),
        UniqueConstraint("uid", "part_day"),
        Index(
            "ix_messages_pending_due",
            "due_at",
            sqlite_where=text("status IN ('queued','deferred','sending')"),
            postgresql_where=text("status IN ('queued','deferred','sending')"),
        ),
        # With due_at: a campaign's report counts its waiting messages in the index (0016).
        Index("ix_messages_campaign_status", "campaign_id", "status", "due_at"),
        Index("ix_messages_server_sent", "server_id", "sent_at"),
        # The log's search by recipient, case-insensitive, per customer (0017; SQLite: NOCASE).
        Index(
            "ix_messages_customer_recipient",
            "customer_id",
            func.lower(column("recipient")).label("recipient_key"),
            "id",
            postgresql_ops={"recipient_key": "text_pattern_ops"},
        ),
        # A vendor's event names the message by the id it gave at send (webhooks, 0010).
        Index("ix_messages_server_remote", "server_id", "remote_id"),
        # Retention walks settled rows by settle time, in keyset batches (store/retention.py).
        Index(
            "ix_messages_settled_at",
            "updated_at",
            "id",
            sqlite_where=text("status IN ('failed','sent')"),
            postgresql_where=text("status IN ('failed','sent')"),
        ),
    )
    # On PostgreSQL the primary key is (id, part_day) (0021); ids still come from one
    # sequence, so an id alone names one message, as the ORM takes it.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign|transactional
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED)
    server_id: Mapped[int | None] = mapped_column(
        ForeignKey("sending_servers.id", ondelete="SET NULL")
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Of ``attempts``, the last ones in a row made on ``server_id`` (store/recount.py).
    attempts_here: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    hold: Mapped[str | None] = mapped_column(String(32))  # a HoldReason, or None
    # The unit a worker reserved for this message and its hand-over (store/holdings.py).
    reserved_server_id: Mapped[int | None] = mapped_column(BigInteger)
    reserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The server to try first: an attempt there may have been delivered (its reply was lost).
    retry_server_id: Mapped[int | None] = mapped_column(BigInteger)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The UTC day (days since 1970-01-01) whose partition holds the row: the campaign's
    # part_day, else the day of the insert (the database's default, 0021).
    part_day: Mapped[int] = mapped_column(Integer, server_default=FetchedValue())


class QuotaUsage(Base):
    """Units reserved per server and window; the SQL back end of the quota ledger."""

    __tablename__ = "quota_usage"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    window: Mapped[str] = mapped_column(String(8), primary_key=True)
    window_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateState(Base):
    """GCRA theoretical arrival time per server, in epoch seconds."""

    __tablename__ = "rate_state"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)


class RotationCursor(Base):
    __tablename__ = "rotation_cursors"
    plan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


class Suppression(Base):
    __tablename__ = "suppressions"
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    server_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(16))  # hard_bounce, complaint, ...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryEvent(Base):
    """Bounces, complaints, delays: for the message log, stats and rebalancing (migration 0009)."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        Index("ix_delivery_events_server_at", "server_id", "created_at"),
        Index("ix_delivery_events_server_sent", "server_id", "sent_at"),
        # A server's deferrals of the last day, counted in the index alone (0019).
        Index("ix_delivery_events_server_kind_at", "server_id", "kind", "created_at"),
        Index("ix_delivery_events_message", "message_id"),
        Index("ix_delivery_events_dedup", "dedup_key", unique=True),  # once per report
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # hard_bounce, reputation, complaint, ...
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    recipient: Mapped[str | None] = mapped_column(String(320))
    status_code: Mapped[str | None] = mapped_column(String(16))  # RFC 3463, e.g. 5.1.1
    source: Mapped[str | None] = mapped_column(String(64))  # smtp | inbound | imap:NAME | ...
    reported_by: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # rates count by the send
    dedup_key: Mapped[str | None] = mapped_column(String(64))


class DispatchSkip(Base):
    """How often, per day, each filter left a server out of a plan's picks."""

    __tablename__ = "dispatch_skips"
    plan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_reason: Mapped[str] = mapped_column(Text, default="")


class WorkerRecord(Base):
    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
