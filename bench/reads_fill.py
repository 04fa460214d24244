"""Bulk rows for bench/reads.py: campaigns, messages and delivery events made in SQL.

Messages are made by ``INSERT ... SELECT`` over a series (generate_series on
PostgreSQL, a recursive CTE on SQLite), so every row goes through whatever
triggers the migrations put on ``messages`` and ``delivery_events``, as the
workers' own writes do. The mix: 10 % transactional, the rest spread over the
campaigns of two customers; 88 % sent, 3 % failed, 4 % queued, 4 % deferred,
1 % sending; sent_at over the last three days; a fixed base of recipients, so
one address has more messages the bigger the table; one delivery event for
about 3 % of sent or failed messages.
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, text, update

from sendpool.core.states import CampaignStatus
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft, create_campaign
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.store.tables import Campaign, Message

CAMPAIGNS = 40  # half for each customer
RECIPIENTS = 250_000  # distinct addresses the messages go to
CHUNK = 250_000
DAYS = 3
DOMAINS = ("example.com", "mail.example.net", "Example.org", "inbox.example.com", "corp.example.io")


@dataclass(frozen=True)
class Fixture:
    customers: tuple[int, int]  # tenant-a, tenant-b
    campaigns: list[tuple[int, str]]  # (id, uid), even positions tenant-a's
    servers: list[int]


MIXER = 2654435761  # message g goes to address (g * MIXER) % RECIPIENTS


def recipient_of(n: int) -> str:
    """The address number ``n`` of the recipient base, as the SQL below spells it (lowered)."""
    return f"user{n}@{DOMAINS[n % len(DOMAINS)]}".lower()


def tenant_a_address(near: int) -> int:
    """The first address number from ``near`` whose messages all belong to tenant-a."""
    inverse = pow(MIXER, -1, RECIPIENTS)
    for n in range(near, near + 1000):
        g = n * inverse % RECIPIENTS  # its first message; the others are RECIPIENTS apart
        if g % 10 == 0 or g % CAMPAIGNS % 2 == 0:
            return n
    raise AssertionError("no address of tenant-a")


def make_campaigns(rt: Runtime, now: datetime) -> Fixture:
    def build(conn: Connection) -> Fixture:
        a, b = refs.customer_id(conn, "tenant-a"), refs.customer_id(conn, "tenant-b")
        lists = {}
        for cid, who in ((a, "a"), (b, "b")):
            lists[cid] = get_or_create_list(conn, cid, f"bench-{who}", now)
            import_csv(conn, lists[cid], io.StringIO(f"email\nx@{who}-tenant.example\n"), now)
        made = []
        for i in range(CAMPAIGNS):
            cid, who = (a, "a") if i % 2 == 0 else (b, "b")
            draft = CampaignDraft(
                f"bench-{i}", "Hello", f"news@{who}-tenant.example", text_body="Hi"
            )
            made.append(
                create_campaign(
                    conn, customer_id=cid, list_id=lists[cid], draft=draft, plan_id=None, now=now
                )
            )
        servers = conn.execute(text("SELECT id FROM sending_servers ORDER BY id")).scalars().all()
        return Fixture((a, b), made, [int(s) for s in servers])

    return rt.db.transaction(build)


def _series(dialect: str) -> str:
    if dialect == "postgresql":
        return "SELECT g FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g"
    return (
        "WITH RECURSIVE s(g) AS (SELECT :lo UNION ALL SELECT g + 1 FROM s WHERE g < :hi) "
        "SELECT g FROM s"
    )


def _ago(dialect: str, seconds: str) -> str:
    """A naive UTC timestamp ``seconds`` before :now, as UTCDateTime stores it."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamp) - ({seconds}) * interval '1 second')"
    return f"(strftime('%Y-%m-%d %H:%M:%S', :now, '-' || ({seconds}) || ' seconds') || '.000000')"


def _case(expr: str, values: list[str]) -> str:
    whens = " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate(values))
    return f"(CASE ({expr}) % {len(values)} {whens} END)"


def messages_sql(dialect: str, fx: Fixture) -> str:
    h = f"((g * {MIXER}) % {RECIPIENTS})"  # the recipient number, scattered over ids
    camp = f"(g % {CAMPAIGNS})"
    tx = "(g % 10 = 0)"
    st = "(g % 100)"
    status = (
        f"CASE WHEN {st} < 88 THEN 'sent' WHEN {st} < 91 THEN 'failed' WHEN {st} < 95 "
        f"THEN 'queued' WHEN {st} < 99 THEN 'deferred' ELSE 'sending' END"
    )
    campaign_ids = _case(camp, [str(c) for c, _ in fx.campaigns])
    customer = f"CASE WHEN {tx} OR {camp} % 2 = 0 THEN {fx.customers[0]} ELSE {fx.customers[1]} END"
    server = _case("g", [str(s) for s in fx.servers])
    domain = _case(h, [f"'{d}'" for d in DOMAINS])
    age = f"((g * 7919) % {DAYS * 86400})"
    went = f"{st} < 91 OR {st} = 99"
    return f"""
INSERT INTO messages (uid, customer_id, campaign_id, subscriber_id, recipient, kind, status,
    server_id, attempts, attempts_here, due_at, claimed_by, queued_at, sent_at, last_error,
    smtp_code, smtp_reply, message_id, updated_at)
SELECT 'bench' || g, {customer}, CASE WHEN {tx} THEN NULL ELSE {campaign_ids} END,
    CASE WHEN {tx} THEN NULL ELSE g END,
    CASE WHEN g % 7 = 0 THEN 'User' ELSE 'user' END || {h} || '@' || {domain},
    CASE WHEN {tx} THEN 'transactional' ELSE 'campaign' END, {status},
    CASE WHEN {went} THEN {server} END,
    CASE WHEN {st} < 91 THEN 1 WHEN {st} < 95 THEN 0 ELSE 2 END,
    CASE WHEN {st} < 91 THEN 1 WHEN {st} < 95 THEN 0 ELSE 1 END,
    {_ago(dialect, age)}, CASE WHEN {st} = 99 THEN 'bench-worker' END,
    {_ago(dialect, age + " + 60")},
    CASE WHEN {st} < 91 THEN {_ago(dialect, age)} END,
    CASE WHEN {st} BETWEEN 88 AND 90 THEN '550 5.1.1 user unknown'
         WHEN {st} BETWEEN 95 AND 98 THEN '451 4.7.1 try again later' END,
    CASE WHEN {st} < 88 THEN 250 WHEN {st} < 91 THEN 550 END,
    CASE WHEN {st} < 88 THEN '250 2.0.0 Ok: queued' END,
    CASE WHEN {st} < 91 THEN '<bench' || g || '@sendpool.example>' END,
    {_ago(dialect, age)}
FROM ({_series(dialect)}) AS series
"""


EVENTS_SQL = """
INSERT INTO delivery_events (server_id, message_id, kind, detail, created_at, customer_id,
    recipient, status_code, source, sent_at, dedup_key)
SELECT server_id, id,
    CASE WHEN status = 'failed' THEN 'hard_bounce' WHEN id % 2 = 0 THEN 'complaint'
         ELSE 'delay' END,
    CASE WHEN status = 'failed' THEN 'bounced 5.1.1 user unknown' ELSE 'reported by mx' END,
    sent_at, customer_id, recipient,
    CASE WHEN status = 'failed' THEN '5.1.1' END, 'inbound', sent_at, 'bench' || id
FROM messages
WHERE id > :after AND status IN ('sent', 'failed') AND (id % 33 = 0 OR status = 'failed')
"""


def upkeep(rt: Runtime, now: datetime) -> None:
    """Fold the rollups' deltas as the scheduler would, where the schema has them."""
    try:
        from sendpool.store import rollups
    except ImportError:  # a schema without rollups: the reads count messages
        return
    rt.db.transaction(rollups.upkeep, now)
    print("  rollups folded", file=sys.stderr, flush=True)


def fill(rt: Runtime, fx: Fixture, start: int, stop: int, now: datetime) -> None:
    """Add messages numbered ``start`` .. ``stop - 1``, and their events, in chunks."""
    dialect = rt.db.engine.dialect.name
    insert = text(messages_sql(dialect, fx))
    naive = now.replace(tzinfo=None)
    bound = naive if dialect == "postgresql" else naive.strftime("%Y-%m-%d %H:%M:%S")
    began = time.perf_counter()
    for lo in range(start, stop, CHUNK):
        hi = min(lo + CHUNK, stop) - 1
        with rt.db.engine.begin() as conn:
            after = conn.execute(select(func.coalesce(func.max(Message.id), 0))).scalar_one()
            conn.execute(insert, {"lo": lo, "hi": hi, "now": bound})
            if dialect == "postgresql":
                # As a launch does after a bulk insert (store/launches.py): the events'
                # lookups by id are planned with the day partition's size as it is now.
                conn.execute(text("ANALYZE messages"))
            conn.execute(text(EVENTS_SQL), {"after": after})
        rate = (hi + 1 - start) / (time.perf_counter() - began)
        print(f"  filled {hi:>11,} messages ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    with rt.db.engine.begin() as conn:
        for i, (cid, _) in enumerate(fx.campaigns):
            n = conn.execute(select(func.count()).where(Message.campaign_id == cid)).scalar_one()
            state = CampaignStatus.SENDING if i % 4 else CampaignStatus.DONE
            conn.execute(
                update(Campaign)
                .where(Campaign.id == cid)
                .values(
                    status=state,
                    recipient_count=n,
                    launch_cursor=n,
                    launched_at=now - timedelta(days=DAYS),
                )
            )
    upkeep(rt, now)
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))
